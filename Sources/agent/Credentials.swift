import Foundation
import GitSource
import ModelOpsCore

/// Turns the configuration's secret references into credentials, reading them only now.
enum Credentials {
  static func resolve(_ auth: AgentConfig.Auth?) throws -> GitCredentials {
    switch auth {
    case nil: return .none
    case .token(let reference): return .token(try secret(reference))
    case .sshKey(let file, let passphrase): return .sshKey(privateKey: file, passphrase: try passphrase.map(secret))
    }
  }

  /// The secret's value; errors name where it was looked for, never what it holds.
  static func secret(_ reference: SecretReference) throws -> String {
    switch reference {
    case .environment(let name):
      guard let value = SecretEnvironment.value(name) else {
        throw CommandFailure("the secret \(reference) is not set")
      }
      return value
    case .file(let path):
      guard let data = FileManager.default.contents(atPath: path) else {
        throw CommandFailure("cannot read the secret \(reference)")
      }
      return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
  }
}
