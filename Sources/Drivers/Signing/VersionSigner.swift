import Foundation
import Synchronization

/// Signed model versions (`signing` in agent.yaml): the agent signs what it registers (the
/// model's name, the run that trained it and its artifact's digest) with an SSH key, and checks
/// the signature, and the artifact against the digest, before a replica of the version starts.
/// The registry's digest proves an artifact unchanged; the signature proves which key vouched
/// for that digest, so an artifact or a digest replaced in the registry or the state is refused.
public final class VersionSigner: Sendable {
  /// The namespace of the signatures (`ssh-keygen -Y … -n`): one made for a git commit is not one
  /// for a model version.
  public static let namespace = "modelops-model"
  /// The private key that signs new versions; nil: this agent only checks.
  public let key: String?
  /// Whose signatures are accepted: an allowed_signers file, or the key's own public key, kept in
  /// memory (never in the state folder, whose writer must not choose whom to trust).
  public let allowed: SSHSignatures.AllowedSigners
  /// A version without a signature is not served (else it is, as versions registered before
  /// signing was configured).
  public let requireSigned: Bool
  /// Signatures already found good and their signers: each is checked once per agent.
  private let good = Mutex<[String: String]>([:])

  /// Fails (a configuration error, at start) when a file cannot be read, or, with a key, when it
  /// cannot sign a test message that `allowedSigners` accepts.
  public init(key: String?, allowedSigners: String?, requireSigned: Bool) throws {
    for (field, path) in [("key", key), ("allowedSigners", allowedSigners)] {
      guard let path else { continue }
      guard FileManager.default.isReadableFile(atPath: path) else {
        throw RunError("signing.\(field): cannot read \(path) (no such file, or not readable by the agent)")
      }
    }
    if let allowedSigners {
      allowed = .file(allowedSigners)
    } else if let key {
      allowed = .lines("modelops-agent namespaces=\"\(Self.namespace)\" \(try SSHSignatures.publicKey(of: key))\n")
    } else {
      throw RunError("signing needs 'key' (to sign new versions) or 'allowedSigners' (to check them)")
    }
    self.key = key
    self.requireSigned = requireSigned
    if let key {
      let probe = Self.message(model: "probe", run: "probe", digest: "sha256:0")
      let signature = try SSHSignatures.sign(probe, key: key, namespace: Self.namespace)
      if case .failure(let refused) = SSHSignatures.verify(
        signature, of: probe, allowed: allowed, namespace: Self.namespace)
      {
        throw RunError("signing.key: a signature made with \(key) \(refused)")
      }
    }
  }

  /// What is signed for a version: the model's name, the run that trained it, and its artifact's
  /// digest. (Its number is given by the registry in the write that stores the signature; the run
  /// binds the signature to that one version. Metrics are not covered.)
  public static func message(model: String, run: String, digest: String) -> Data {
    Data("modelops model version\nmodel: \(model)\nrun: \(run)\nartifact: \(digest)\n".utf8)
  }

  /// The signature of a new version of `model` trained by `run`, whose artifact has `digest`
  /// ("sha256:…"); nil when this agent has no key.
  public func sign(model: String, run: String, digest: String) throws -> String? {
    guard let key else { return nil }
    return try SSHSignatures.sign(
      Self.message(model: model, run: run, digest: digest), key: key, namespace: Self.namespace)
  }

  /// Who signed version `version` of `model`, or why it is not served: its signature does not
  /// verify for the recorded run and digest, or it has none and `requireSigned` is set. nil
  /// signer: an unsigned version that may serve.
  public func check(model: String, version: Int, run: String?, digest: String?, signature: String?) -> Result<
    String?, SignatureRefused
  > {
    guard let signature else {
      return requireSigned
        ? .failure(SignatureRefused("v\(version) of \(model) is not signed, and signing.requireSigned is set"))
        : .success(nil)
    }
    guard let digest, let run else {
      return .failure(SignatureRefused("v\(version) of \(model) has no recorded digest or run"))
    }
    let memo = "\(model)\n\(run)\n\(digest)\n\(signature)"
    if let signer = good.withLock({ $0[memo] }) { return .success(signer) }
    let checked = SSHSignatures.verify(
      signature, of: Self.message(model: model, run: run, digest: digest), allowed: allowed,
      namespace: Self.namespace)
    switch checked {
    case .success(let signer):
      good.withLock { $0[memo] = signer }
      return .success(signer)
    case .failure(let refused):
      return .failure(SignatureRefused("v\(version) of \(model) \(refused)", transient: refused.transient))
    }
  }
}
