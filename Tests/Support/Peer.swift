import Drivers
import Foundation

/// A program a test starts on loopback (Prometheus, Alertmanager, MLflow, a webhook receiver): in
/// a process group of its own (ChildProcess), so its workers stop with it when the test lets go.
public final class Peer {
  public let child: ChildProcess
  /// Its stdout and stderr.
  public let log: String
  private var reaped = false

  /// Starts `argv` in `directory`; when `ready` is given, waits until that URL answers 200 (for at
  /// most `seconds`) and throws with the end of the log if it never does.
  public init(
    _ argv: [String], in directory: String, log: String, ready: String? = nil, seconds: Double = 30,
    environment: [String: String] = ChildEnvironment.base()
  ) throws {
    self.log = log
    child = try ChildProcess.spawn(argv, in: directory, environment: environment, log: log)
    guard let ready else { return }
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline, isRunning {
      if (try? HTTPClient.get(ready, timeout: 1))?.status == 200 { return }
      usleep(200_000)
    }
    throw FixtureError("\(argv.first ?? "") did not answer \(ready): \(output.suffix(2000))")
  }

  deinit { stop() }

  /// Kills its process group and reaps it.
  public func stop() {
    kill(-child.pid, SIGKILL)
    if !reaped { _ = child.wait(until: Date().addingTimeInterval(10)) }
    reaped = true
  }

  /// False once the program has exited (it is reaped then).
  public var isRunning: Bool {
    guard !reaped else { return false }
    var status: Int32 = 0
    if waitpid(child.pid, &status, WNOHANG) == child.pid { reaped = true }
    return !reaped
  }

  public var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
}
