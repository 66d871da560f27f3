import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Serving replicas as supervised child processes of the agent (the `process` runtime).
///
/// Replicas run in their own process groups, so they outlive an agent that crashes or restarts;
/// the next agent adopts them by pid and start time instead of starting duplicates.
public struct ProcessRuntime: ReplicaRuntime {
  /// The user replicas run as (nil: the agent's).
  public var runAs: RunAs?

  public init(runAs: RunAs? = nil) { self.runAs = runAs }

  public func start(_ spec: ReplicaSpec) throws -> ReplicaHandle {
    var environment = ChildEnvironment.base()
    environment.merge(spec.env) { _, own in own }
    environment["PORT"] = String(spec.port)
    environment["MODELOPS_MODEL"] = spec.model
    environment["MODELOPS_MODEL_VERSION"] = String(spec.modelVersion)
    environment["MODELOPS_MODEL_PATH"] = spec.modelPath
    let child = try ChildProcess.spawn(
      spec.command, in: spec.directory, environment: environment, log: spec.log, memoryLimit: spec.memoryLimit,
      runAs: runAs)
    guard let started = Self.startTime(of: child.pid) else {
      throw RunError("replica \(spec.id) exited as soon as it started (see \(spec.log))")
    }
    return ReplicaHandle(.process(pid: child.pid, startTime: started), port: spec.port)
  }

  /// Whether the replica is the process it was (same pid and start time) and still running.
  public func isRunning(_ handle: ReplicaHandle) -> Bool {
    guard case .process(let pid, let startTime) = handle.identity else { return false }
    reap(pid)
    return Self.startTime(of: pid) == startTime
  }

  /// The process already writes to its log.
  public func stop(_ handle: ReplicaHandle, log: String) { stop(handle) }

  /// SIGTERM to the replica's group, SIGKILL after `grace`.
  public func stop(_ handle: ReplicaHandle, grace: TimeInterval = 5) {
    guard let pid = handle.pid, isRunning(handle) else { return }
    kill(-pid, SIGTERM)
    let deadline = Date().addingTimeInterval(grace)
    while isRunning(handle), Date() < deadline { usleep(20_000) }
    if isRunning(handle) { kill(-pid, SIGKILL) }
    for _ in 0..<100 where isRunning(handle) { usleep(10_000) }
  }

  /// Collects the exit status of a child of this agent that ended (a zombie is not running).
  private func reap(_ pid: Int32) {
    var status: Int32 = 0
    _ = waitpid(pid, &status, WNOHANG)
  }

  /// Field 22 of `/proc/PID/stat`; nil when the process is gone or a zombie.
  public static func startTime(of pid: Int32) -> UInt64? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command name: field 3 (state) is fields[0], field 22 (starttime) is fields[19].
    guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return nil }
    return UInt64(fields[19])
  }
}
