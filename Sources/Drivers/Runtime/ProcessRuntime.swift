import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// What a replica needs to start: the serving contract of SPEC §3.
public struct ReplicaSpec: Sendable {
  public var deployment: String
  /// Unique per replica, e.g. `iris-api-v2-0`.
  public var id: String
  public var command: [String]
  /// A checkout of the commit; the command runs here.
  public var directory: String
  public var env: [String: String]
  /// The port the replica listens on (`PORT`).
  public var port: Int
  public var model: String
  public var modelVersion: Int
  /// The version's artifact folder (`MODELOPS_MODEL_PATH`).
  public var modelPath: String
  public var memoryLimit: Int64?
  /// Where its output goes.
  public var log: String

  public init(
    deployment: String, id: String, command: [String], directory: String, env: [String: String], port: Int,
    model: String, modelVersion: Int, modelPath: String, memoryLimit: Int64? = nil, log: String
  ) {
    self.deployment = deployment
    self.id = id
    self.command = command
    self.directory = directory
    self.env = env
    self.port = port
    self.model = model
    self.modelVersion = modelVersion
    self.modelPath = modelPath
    self.memoryLimit = memoryLimit
    self.log = log
  }
}

/// A started replica, as recorded in the state store: enough to find it again after a restart.
public struct ReplicaHandle: Sendable, Hashable, Codable {
  public var pid: Int32
  /// The kernel's start time of the process (clock ticks since boot): a reused pid differs.
  public var startTime: UInt64
  public var port: Int

  public init(pid: Int32, startTime: UInt64, port: Int) {
    self.pid = pid
    self.startTime = startTime
    self.port = port
  }
}

/// Serving replicas as supervised child processes of the agent (the `process` runtime).
///
/// Replicas run in their own process groups, so they outlive an agent that crashes or restarts;
/// the next agent adopts them by pid and start time instead of starting duplicates.
public struct ProcessRuntime: Sendable {
  public init() {}

  public func start(_ spec: ReplicaSpec) throws -> ReplicaHandle {
    var environment = ChildEnvironment.base()
    environment.merge(spec.env) { _, own in own }
    environment["PORT"] = String(spec.port)
    environment["MODELOPS_MODEL"] = spec.model
    environment["MODELOPS_MODEL_VERSION"] = String(spec.modelVersion)
    environment["MODELOPS_MODEL_PATH"] = spec.modelPath
    let child = try ChildProcess.spawn(
      spec.command, in: spec.directory, environment: environment, log: spec.log, memoryLimit: spec.memoryLimit)
    guard let started = Self.startTime(of: child.pid) else {
      throw RunError("replica \(spec.id) exited as soon as it started (see \(spec.log))")
    }
    return ReplicaHandle(pid: child.pid, startTime: started, port: spec.port)
  }

  /// Whether the replica is the process it was (same pid and start time) and still running.
  public func isRunning(_ handle: ReplicaHandle) -> Bool {
    reap(handle.pid)
    return Self.startTime(of: handle.pid) == handle.startTime
  }

  /// SIGTERM to the replica's group, SIGKILL after `grace`.
  public func stop(_ handle: ReplicaHandle, grace: TimeInterval = 5) {
    guard isRunning(handle) else { return }
    kill(-handle.pid, SIGTERM)
    let deadline = Date().addingTimeInterval(grace)
    while isRunning(handle), Date() < deadline { usleep(20_000) }
    if isRunning(handle) { kill(-handle.pid, SIGKILL) }
    for _ in 0..<100 where isRunning(handle) { usleep(10_000) }
  }

  /// Collects the exit status of a child of this agent that ended (a zombie is not running).
  private func reap(_ pid: Int32) {
    var status: Int32 = 0
    _ = waitpid(pid, &status, WNOHANG)
  }

  /// Field 22 of `/proc/PID/stat`; nil when the process is gone or a zombie.
  static func startTime(of pid: Int32) -> UInt64? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command name: field 3 (state) is fields[0], field 22 (starttime) is fields[19].
    guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return nil }
    return UInt64(fields[19])
  }
}

/// Health checks per SPEC §3: `GET health.path` answering 2xx (the body is not read).
public enum HealthProbe {
  public enum Outcome: Equatable, Sendable {
    case healthy
    case exited
    case timedOut
  }

  public static func check(port: Int, path: String, timeout: TimeInterval) -> Bool {
    guard let response = try? HTTPClient.get("http://127.0.0.1:\(port)\(path)", timeout: timeout) else { return false }
    return (200..<300).contains(response.status)
  }

  /// Polls until the replica answers healthy, exits, or `startup` runs out.
  public static func waitHealthy(
    _ handle: ReplicaHandle, path: String, runtime: ProcessRuntime, startup: TimeInterval, interval: TimeInterval,
    timeout: TimeInterval
  ) -> Outcome {
    let deadline = Date().addingTimeInterval(startup)
    while Date() < deadline {
      if check(port: handle.port, path: path, timeout: timeout) { return .healthy }
      if !runtime.isRunning(handle) { return .exited }
      Thread.sleep(forTimeInterval: min(interval, max(0, deadline.timeIntervalSinceNow)))
    }
    return .timedOut
  }
}

/// A free TCP port on 127.0.0.1, chosen by the kernel.
public enum FreePort {
  public static func pick() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw RunError("cannot open a socket to find a free port") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
        guard bind(fd, pointer, length) == 0 else { return -1 }
        return getsockname(fd, pointer, &length)
      }
    }
    guard bound == 0 else { throw RunError("cannot find a free port: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
  }
}
