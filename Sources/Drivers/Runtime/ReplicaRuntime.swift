import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// What a replica needs to start: the serving contract of SPEC §3.
public struct ReplicaSpec: Sendable {
  public var deployment: String
  /// Unique per replica, e.g. `iris-api-v2-0`.
  public var id: String
  /// The revision it serves, as a label (`v2/<template digest>`).
  public var revision = ""
  /// The process runtime's command; with docker, an override of the image's command run in
  /// the commit's checkout (empty: the image's own).
  public var command: [String]
  /// A checkout of the commit; the command runs here.
  public var directory: String
  /// The docker runtime's image.
  public var image: String?
  public var env: [String: String]
  /// The port the replica answers on, on 127.0.0.1 of this host (`PORT` of a process).
  public var port: Int
  /// The port a container listens on inside (its `PORT`; published on `port`).
  public var containerPort = 8080
  public var model: String
  public var modelVersion: Int
  /// The version's artifact folder (`MODELOPS_MODEL_PATH`).
  public var modelPath: String
  public var memoryLimit: Int64?
  public var cpus: Double?
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
public struct ReplicaHandle: Sendable, Hashable {
  public enum Identity: Sendable, Hashable {
    /// The kernel's start time of the process (clock ticks since boot): a reused pid differs.
    case process(pid: Int32, startTime: UInt64)
    /// The engine's container id.
    case container(id: String)
  }

  public var identity: Identity
  /// Where it answers, on 127.0.0.1.
  public var port: Int

  public init(_ identity: Identity, port: Int) {
    self.identity = identity
    self.port = port
  }

  public var pid: Int32? {
    if case .process(let pid, _) = identity { return pid }
    return nil
  }

  public var container: String? {
    if case .container(let id) = identity { return id }
    return nil
  }
}

/// Where replicas run: processes of this host, or containers of a Docker engine.
public protocol ReplicaRuntime: Sendable {
  func start(_ spec: ReplicaSpec) throws -> ReplicaHandle
  /// Whether the replica is still the one started, and running.
  func isRunning(_ handle: ReplicaHandle) -> Bool
  /// Stops the replica for good; its output so far ends up in `log`.
  func stop(_ handle: ReplicaHandle, log: String)
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
    _ handle: ReplicaHandle, path: String, runtime: any ReplicaRuntime, startup: TimeInterval, interval: TimeInterval,
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
