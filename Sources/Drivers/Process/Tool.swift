import Foundation

/// A short-lived command-line tool the agent relies on (`ssh-keygen`, `gpgv`), run with a clean
/// environment and a deadline.
public enum Tool {
  /// What a tool did: whether it exited 0, what it printed (stdout and stderr), and whether it
  /// could not start or ran past its deadline.
  public struct Outcome: Sendable {
    public var ok: Bool
    public var output: String
    public var notStarted = false
    public var timedOut = false
  }

  /// Runs `argv` in `folder` (where its output is kept while it runs).
  public static func run(_ argv: [String], in folder: String, deadline: TimeInterval = 10) -> Outcome {
    let log = folder + "/tool-\(UUID().uuidString).log"
    defer { try? FileManager.default.removeItem(atPath: log) }
    guard let child = try? ChildProcess.spawn(argv, in: folder, environment: ChildEnvironment.base(), log: log) else {
      return Outcome(ok: false, output: "\(argv.first ?? "a tool") could not be started", notStarted: true)
    }
    let exit = child.wait(until: Date().addingTimeInterval(deadline))
    if exit == .timedOut { return Outcome(ok: false, output: "\(argv.first ?? "a tool") timed out", timedOut: true) }
    let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    return Outcome(ok: exit == .code(0), output: output)
  }

  /// Runs `body` with a private folder (mode 700) that is removed afterwards.
  public static func withPrivateFolder<T>(_ body: (URL) throws -> T) throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("modelops-tool-\(UUID().uuidString)")
    try FileManager.default.createDirectory(
      at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    defer { try? FileManager.default.removeItem(at: folder) }
    return try body(folder)
  }
}
