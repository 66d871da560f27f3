import Foundation

/// A short-lived command-line tool the agent relies on (`ssh-keygen`, `gpgv`), run with a clean
/// environment and a deadline.
public enum Tool {
  /// Runs `argv` in `folder` (where its output is kept while it runs); whether it exited 0, and
  /// what it printed (stdout and stderr), or that it timed out.
  public static func run(_ argv: [String], in folder: String, deadline: TimeInterval = 10) -> (
    ok: Bool, output: String
  ) {
    let log = folder + "/tool-\(UUID().uuidString).log"
    defer { try? FileManager.default.removeItem(atPath: log) }
    guard let child = try? ChildProcess.spawn(argv, in: folder, environment: ChildEnvironment.base(), log: log) else {
      return (false, "\(argv.first ?? "a tool") could not be started")
    }
    let exit = child.wait(until: Date().addingTimeInterval(deadline))
    let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    return (exit == .code(0), exit == .timedOut ? "\(argv.first ?? "a tool") timed out" : output)
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
