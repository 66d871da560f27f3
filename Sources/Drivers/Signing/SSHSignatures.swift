import Foundation

/// SSH signatures (`ssh-keygen -Y`), as git and OpenSSH make and check them: the agent does no
/// cryptography of its own. A namespace keeps a signature made for one purpose (a git commit, a
/// model version) from being accepted for another.
public enum SSHSignatures {
  /// An armoured signature of `data` by the private key in `key`.
  public static func sign(_ data: Data, key: String, namespace: String) throws -> String {
    try Tool.withPrivateFolder { folder in
      let message = folder.appendingPathComponent("message")
      try data.write(to: message)
      let absolute = URL(fileURLWithPath: key).standardizedFileURL.path
      let signed = Tool.run(
        ["ssh-keygen", "-Y", "sign", "-f", absolute, "-n", namespace, message.path], in: folder.path)
      let signature = (try? String(contentsOf: folder.appendingPathComponent("message.sig"), encoding: .utf8)) ?? ""
      guard signed.ok, signature.hasPrefix("-----BEGIN SSH SIGNATURE-----") else {
        throw RunError(
          "cannot sign with the key \(key): \(signed.output.trimmingCharacters(in: .whitespacesAndNewlines))")
      }
      return signature
    }
  }

  /// Whose signatures are accepted: an OpenSSH allowed_signers file, or its lines (kept in
  /// memory, written only to the private folder of each check, so that no file an attacker of
  /// the state folder could edit decides).
  public enum AllowedSigners: Sendable, CustomStringConvertible {
    case file(String)
    case lines(String)

    public var description: String {
      switch self {
      case .file(let path): return path
      case .lines: return "the signing key"
      }
    }
  }

  /// Who signed `data` ("alice@example.com (ED25519 key SHA256:…)"): a principal of `allowed`
  /// whose key made `signature` for `namespace`; or why not (`transient` when the check itself
  /// could not be made: a tool that did not start or timed out, a folder that could not be written).
  public static func verify(_ signature: String, of data: Data, allowed: AllowedSigners, namespace: String)
    -> Result<String, SignatureRefused>
  {
    let checked = Result<Result<String, SignatureRefused>, any Error> {
      try Tool.withPrivateFolder { folder in
        let sig = folder.appendingPathComponent("message.sig").path
        let message = folder.appendingPathComponent("message").path
        try Data(signature.utf8).write(to: URL(fileURLWithPath: sig))
        try data.write(to: URL(fileURLWithPath: message))
        let signers: String
        switch allowed {
        case .file(let path): signers = URL(fileURLWithPath: path).standardizedFileURL.path
        case .lines(let lines):
          signers = folder.appendingPathComponent("allowed_signers").path
          try Data(lines.utf8).write(to: URL(fileURLWithPath: signers))
        }
        let found = Tool.run(["ssh-keygen", "-Y", "find-principals", "-s", sig, "-f", signers], in: folder.path)
        if found.timedOut || found.notStarted {
          return .failure(SignatureRefused("cannot be checked now: \(found.output)", transient: true))
        }
        let principals = found.output.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        guard found.ok, let principal = principals.first else {
          return .failure(SignatureRefused("is signed by an SSH key that is not in \(allowed)"))
        }
        let verified = Tool.run(
          [
            "/bin/sh", "-c", "exec ssh-keygen -Y verify -f \"$1\" -I \"$2\" -n \"$3\" -s \"$4\" < \"$5\"", "verify",
            signers, principal, namespace, sig, message,
          ], in: folder.path)
        if verified.timedOut || verified.notStarted {
          return .failure(SignatureRefused("cannot be checked now: \(verified.output)", transient: true))
        }
        let good = verified.output.split(whereSeparator: \.isNewline).first { $0.hasPrefix("Good") }
        guard verified.ok, let good else {
          // `Signature verification failed: incorrect signature` (then `Could not verify signature.`;
          // OpenSSH ends its messages with \r\n, one Character in Swift: split on any newline)
          let lines = verified.output.split(whereSeparator: \.isNewline)
          let said = lines.first.map(String.init) ?? "ssh-keygen said nothing"
          return .failure(SignatureRefused("has an SSH signature that does not verify: \(said)"))
        }
        // `Good "git" signature for alice@example.com with ED25519 key SHA256:…`
        let keyName = good.range(of: " with ").map { String(good[$0.upperBound...]) } ?? "an SSH key"
        return .success("\(principal) (\(keyName))")
      }
    }
    switch checked {
    case .success(let result): return result
    case .failure(let error):
      return .failure(SignatureRefused("has an SSH signature that cannot be checked now: \(error)", transient: true))
    }
  }

  /// The public key of a private key file (`ssh-ed25519 AAAA…`, without its comment).
  public static func publicKey(of key: String) throws -> String {
    try Tool.withPrivateFolder { folder in
      let derived = Tool.run(
        ["ssh-keygen", "-y", "-f", URL(fileURLWithPath: key).standardizedFileURL.path], in: folder.path)
      let lines = derived.output.split(whereSeparator: \.isNewline)
      let line = lines.first { $0.hasPrefix("ssh-") || $0.hasPrefix("ecdsa-") }
      guard derived.ok, let line else {
        throw RunError("cannot read the key \(key): \(derived.output.trimmingCharacters(in: .whitespacesAndNewlines))")
      }
      return line.split(separator: " ").prefix(2).joined(separator: " ")
    }
  }
}

/// Why a signature is not accepted, said of the signed thing: "is signed by an SSH key that is
/// not in …", "has an SSH signature that does not verify: …".
public struct SignatureRefused: Error, CustomStringConvertible, Sendable, Equatable {
  public var description: String
  /// The check could not be made (retry later), as opposed to a signature found bad.
  public var transient: Bool
  public init(_ description: String, transient: Bool = false) {
    self.description = description
    self.transient = transient
  }
}
