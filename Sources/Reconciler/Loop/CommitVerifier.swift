import Drivers
import Foundation
import GitSource

/// `source.verify`: only a commit signed by an allowed key is applied. SSH signatures are checked
/// by OpenSSH against an allowed_signers file (`ssh-keygen -Y find-principals`, then `-Y verify`
/// with namespace `git`, as `git verify-commit` does), OpenPGP ones by `gpgv` against a keyring;
/// the agent does no cryptography of its own. Each check has a deadline.
public struct CommitVerifier: Sendable {
  public let allowedSigners: String?
  public let gpgKeyring: String?
  /// How long one tool may take.
  let deadline: TimeInterval = 10

  /// Fails (a configuration error, at start) when a file is missing or unreadable.
  public init(allowedSigners: String?, gpgKeyring: String?) throws {
    for (field, path) in [("allowedSigners", allowedSigners), ("gpgKeyring", gpgKeyring)] {
      guard let path else { continue }
      guard FileManager.default.isReadableFile(atPath: path) else {
        throw RunError("source.verify.\(field): cannot read \(path) (no such file, or not readable by the agent)")
      }
    }
    self.allowedSigners = allowedSigners
    self.gpgKeyring = gpgKeyring
  }

  /// The signer of `commit` ("alice@example.com (ED25519 key SHA256:…)"), or why it is refused.
  public func verify(_ repository: GitRepository, _ commit: String) -> Result<String, VerificationRefused> {
    let short = String(commit.prefix(12))
    let signature: CommitSignature?
    do {
      signature = try repository.signature(of: ObjectID(hex: commit))
    } catch {
      return .failure(VerificationRefused("cannot read the signature of commit \(short): \(error)"))
    }
    guard let signature else {
      return .failure(VerificationRefused("commit \(short) is not signed; source.verify applies only signed commits"))
    }
    switch signature.kind {
    case .ssh:
      guard let allowedSigners else {
        return .failure(
          VerificationRefused("commit \(short) has an SSH signature, and source.verify has no allowedSigners"))
      }
      return verifySSH(signature, allowedSigners, short)
    case .openPGP:
      guard let gpgKeyring else {
        return .failure(VerificationRefused("commit \(short) has a GPG signature, and source.verify has no gpgKeyring"))
      }
      return verifyGPG(signature, gpgKeyring, short)
    case .unknown:
      return .failure(VerificationRefused("commit \(short) has a signature of a kind the agent does not check"))
    }
  }

  private func verifySSH(_ signature: CommitSignature, _ allowed: String, _ short: String)
    -> Result<String, VerificationRefused>
  {
    SSHSignatures.verify(signature.signature, of: signature.signedData, allowed: .file(allowed), namespace: "git")
      .mapError { refused in VerificationRefused("commit \(short) \(refused)") }
  }

  private func verifyGPG(_ signature: CommitSignature, _ keyring: String, _ short: String)
    -> Result<String, VerificationRefused>
  {
    withFiles(signature) { folder, sig, data in
      let absolute = URL(fileURLWithPath: keyring).standardizedFileURL.path
      let checked = run(
        ["gpgv", "--homedir", folder, "--status-fd", "1", "--keyring", absolute, sig, data], in: folder)
      let good = checked.output.split(separator: "\n").first { $0.hasPrefix("[GNUPG:] GOODSIG ") }
      guard checked.ok, let good else {
        return .failure(VerificationRefused("commit \(short) is not signed by a key in \(keyring)"))
      }
      // `[GNUPG:] GOODSIG KEYID User Name <email>`
      let parts = good.split(separator: " ", maxSplits: 3).map(String.init)
      return .success("\(parts.count > 3 ? parts[3] : "?") (GPG key \(parts.count > 2 ? parts[2] : "?"))")
    }
  }

  /// Runs `body` with the signature and the signed bytes in files of a private folder.
  private func withFiles(
    _ signature: CommitSignature, _ body: (String, String, String) -> Result<String, VerificationRefused>
  ) -> Result<String, VerificationRefused> {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("modelops-verify-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    do {
      try FileManager.default.createDirectory(
        at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
      try Data(signature.signature.utf8).write(to: folder.appendingPathComponent("commit.sig"))
      try signature.signedData.write(to: folder.appendingPathComponent("commit.data"))
    } catch {
      return .failure(VerificationRefused("cannot write the commit's signature to check it: \(error)"))
    }
    return body(
      folder.path, folder.appendingPathComponent("commit.sig").path, folder.appendingPathComponent("commit.data").path)
  }

  private func run(_ argv: [String], in folder: String) -> (ok: Bool, output: String) {
    let outcome = Tool.run(argv, in: folder, deadline: deadline)
    return (outcome.ok, outcome.output)
  }
}

/// Why a commit is not applied under `source.verify` (treated as an invalid head).
public struct VerificationRefused: Error, CustomStringConvertible, Sendable {
  public var description: String
  init(_ description: String) { self.description = description }
}
