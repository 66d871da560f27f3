import Foundation
import Synchronization

/// Signed model versions (`signing` in agent.yaml): the agent signs what it registers, the
/// model's name and its artifact's digest, with an SSH key, and checks the signature before a
/// replica of the version starts. The registry's digest proves an artifact unchanged; the
/// signature proves which key vouched for that digest, so an artifact or a digest replaced in
/// the registry or the state is refused.
public final class VersionSigner: Sendable {
  /// The namespace of the signatures (`ssh-keygen -Y … -n`): one made for a git commit is not one
  /// for a model version.
  public static let namespace = "modelops-model"
  /// The private key that signs new versions; nil: this agent only checks.
  public let key: String?
  /// Whose signatures are accepted: an OpenSSH allowed_signers file.
  public let allowedSigners: String
  /// A version without a signature is not served (else it is, as versions registered before
  /// signing was configured).
  public let requireSigned: Bool
  /// Signatures already found good (model, digest, signature) and their signers: each is
  /// checked once per agent.
  private let good = Mutex<[String: String]>([:])

  /// Fails (a configuration error, at start) when a file cannot be read or the key cannot sign.
  /// Without `allowedSigners`, the key's own public key is the one accepted (written to
  /// `STATE/signing/allowed_signers`).
  public init(key: String?, allowedSigners: String?, requireSigned: Bool, stateFolder: String) throws {
    for (field, path) in [("key", key), ("allowedSigners", allowedSigners)] {
      guard let path else { continue }
      guard FileManager.default.isReadableFile(atPath: path) else {
        throw RunError("signing.\(field): cannot read \(path) (no such file, or not readable by the agent)")
      }
    }
    if let allowedSigners {
      self.allowedSigners = allowedSigners
    } else if let key {
      let folder = URL(fileURLWithPath: stateFolder).appendingPathComponent("signing")
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      let file = folder.appendingPathComponent("allowed_signers")
      let line = "modelops-agent namespaces=\"\(Self.namespace)\" \(try SSHSignatures.publicKey(of: key))\n"
      try Data(line.utf8).write(to: file, options: .atomic)
      self.allowedSigners = file.path
    } else {
      throw RunError("signing needs 'key' (to sign new versions) or 'allowedSigners' (to check them)")
    }
    self.key = key
    self.requireSigned = requireSigned
  }

  /// What is signed for a version: the model's name and its artifact's digest.
  public static func message(model: String, digest: String) -> Data {
    Data("modelops model version\nmodel: \(model)\nartifact: \(digest)\n".utf8)
  }

  /// The signature of a new version of `model` whose artifact has `digest` ("sha256:…"); nil
  /// when this agent has no key.
  public func sign(model: String, digest: String) throws -> String? {
    guard let key else { return nil }
    return try SSHSignatures.sign(Self.message(model: model, digest: digest), key: key, namespace: Self.namespace)
  }

  /// Who signed version `version` of `model`, or why it is not served: its signature does not
  /// verify for the recorded digest, or it has none and `requireSigned` is set. nil signer: an
  /// unsigned version that may serve.
  public func check(model: String, version: Int, digest: String?, signature: String?) -> Result<
    String?, SignatureRefused
  > {
    guard let signature else {
      return requireSigned
        ? .failure(SignatureRefused("v\(version) of \(model) is not signed, and signing.requireSigned is set"))
        : .success(nil)
    }
    guard let digest else { return .failure(SignatureRefused("v\(version) of \(model) has no recorded digest")) }
    let memo = "\(model)\n\(digest)\n\(signature)"
    if let signer = good.withLock({ $0[memo] }) { return .success(signer) }
    let checked = SSHSignatures.verify(
      signature, of: Self.message(model: model, digest: digest), allowedSigners: allowedSigners,
      namespace: Self.namespace)
    switch checked {
    case .success(let signer):
      good.withLock { $0[memo] = signer }
      return .success(signer)
    case .failure(let refused):
      return .failure(SignatureRefused("v\(version) of \(model) \(refused)"))
    }
  }
}
