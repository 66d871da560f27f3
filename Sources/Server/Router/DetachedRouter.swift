import Drivers
import Foundation
import Logging
import Reconciler
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The stable endpoints, served by a router process of their own (`agent router`) so that they
/// outlive the agent: started detached like a replica (own process group, no descriptor of the
/// agent's, a clean environment), recorded by pid and kernel start time in `STATE/router/`, and
/// adopted by the next agent. The agent sends it the whole routing table over a socket there at
/// every change; while no agent runs, it keeps serving the last table it got.
public final class DetachedRouter: TrafficRouter {
  struct Delivery {
    /// The last table made: resent to a router started again, or one that missed it.
    var table: [String: DeploymentRoute]?
    var undelivered = false
    /// Since when a live router has not answered (it is replaced after `patience`).
    var failingSince: Date?
    /// No router is started before this (a router that cannot start is not started every second).
    var nextStart = Date.distantPast
    var startFailures = 0
    /// The router's last refusal (a listener it could not bind), said once until it changes.
    var refusal: String?
  }

  let folder: String
  let executable: String
  let logger: Logger
  /// Tables are sent one at a time, in the order they were made.
  private let sending = Mutex(Delivery())
  /// How long a live router may fail to answer (a busy machine) before it is replaced: replacing
  /// it drops the connections it serves.
  let patience: TimeInterval = 30
  /// When the router process was last looked for (the heartbeat looks once a second).
  private let lookedAt = Mutex(Date.distantPast)

  var socket: String { folder + "/control.sock" }
  var identityFile: String { folder + "/router.pid" }

  /// `executable` is the `agent` binary to run as `agent router` (default: this process's own).
  public init(stateFolder: String, executable: String? = nil, logger: Logger) {
    // Absolute: the router runs in this folder and is given the socket's path.
    folder = URL(fileURLWithPath: stateFolder).appendingPathComponent("router").standardizedFileURL.path
    self.executable =
      executable ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
      ?? CommandLine.arguments[0]
    self.logger = logger
  }

  public func update(_ routes: [String: DeploymentRoute]) {
    sending.withLock { delivery in
      delivery.table = routes
      deliver(&delivery)
    }
  }

  /// Starts the router again with the last table if its process is gone (it crashed, or was
  /// killed by hand), or resends a table it missed, at most once a second.
  public func heartbeat() {
    let due = lookedAt.withLock { at in
      guard Date().timeIntervalSince(at) >= 1 else { return false }
      at = Date()
      return true
    }
    guard due else { return }
    sending.withLock { delivery in
      // The table of this moment: a newer one than the heartbeat saw is never overwritten.
      guard delivery.table != nil, delivery.undelivered || running == nil else { return }
      if running == nil, !delivery.undelivered { logger.warning("router: the router process is gone; starting it") }
      deliver(&delivery)
    }
  }

  /// The router process running now, if any (pid and kernel start time match the record).
  public var running: Int32? {
    guard let text = try? String(contentsOfFile: identityFile, encoding: .utf8) else { return nil }
    let parts = text.split(separator: " ")
    guard parts.count == 2, let pid = Int32(parts[0]), let ticks = UInt64(parts[1]),
      ProcessRuntime.startTime(of: pid) == ticks
    else { return nil }
    return pid
  }

  /// The router's metrics (`modelops_router_*`), asked for over the socket; empty while no
  /// router runs.
  public func metricsText() -> String {
    guard let request = try? JSONEncoder().encode(RoutingTableMessage.metricsRequest),
      let answer = try? exchange(request, limit: 16 << 20),
      let series = try? JSONDecoder().decode([RouterMetrics.Series].self, from: answer)
    else { return "" }
    return RouterMetrics.exposition(series)
  }

  /// Sends `delivery.table`; starts a router when none runs, or replaces one that has not
  /// answered for `patience`. A router that answers with an error (a listener it could not bind)
  /// keeps the table marked undelivered, so the heartbeat sends it again.
  private func deliver(_ delivery: inout Delivery) {
    guard let table = delivery.table else { return }
    let message: Data
    do { message = try JSONEncoder().encode(RoutingTableMessage(table)) } catch {
      logger.error("router: cannot encode the routing table", metadata: ["error": "\(error)"])
      return
    }
    switch send(message) {
    case .delivered:
      delivery.undelivered = false
      delivery.failingSince = nil
      delivery.refusal = nil
      return
    case .refused(let why):
      // It answered: alive and listening to us, only a listener is not up (yet).
      say(why, &delivery)
      delivery.undelivered = true
      delivery.failingSince = nil
      return
    case .noAnswer(let error):
      let since = delivery.failingSince ?? Date()
      if running != nil, Date().timeIntervalSince(since) < patience {
        // Alive but not answering now: it keeps serving the table it has; the heartbeat resends.
        if delivery.failingSince == nil {
          logger.warning("router: no answer on its socket; trying again", metadata: ["error": "\(error)"])
        }
        delivery.failingSince = since
        delivery.undelivered = true
        return
      }
    }
    // No router yet, it is gone, or it stopped answering for good: start one and send again.
    delivery.undelivered = true
    guard Date() >= delivery.nextStart else { return }
    do {
      try start()
      delivery.startFailures = 0
      delivery.failingSince = nil
      switch send(message) {
      case .delivered:
        delivery.undelivered = false
        delivery.refusal = nil
      case .refused(let why): say(why, &delivery)
      case .noAnswer: break
      }
    } catch {
      delivery.startFailures += 1
      let wait = min(60, pow(2, Double(min(delivery.startFailures, 6))))
      delivery.nextStart = Date().addingTimeInterval(wait)
      logger.error(
        "router: cannot start the router process", metadata: ["error": "\(error)", "retry_in_s": "\(Int(wait))"])
    }
  }

  /// A refusal (`error: cannot listen on 127.0.0.1:9000 (… Address already in use)`): the
  /// endpoint does not answer, so it is said — once until it changes.
  private func say(_ why: String, _ delivery: inout Delivery) {
    guard why != delivery.refusal else { return }
    delivery.refusal = why
    logger.error("router: a deployment's endpoint is not served", metadata: ["reason": "\(why)"])
  }

  enum Sent {
    case delivered
    case refused(String)
    case noAnswer(any Error)
  }

  private func send(_ message: Data) -> Sent {
    do {
      let answer = String(decoding: try exchange(message, limit: 64 << 10), as: UTF8.self)
      return answer == "ok" ? .delivered : .refused(answer)
    } catch {
      return .noAnswer(error)
    }
  }

  /// One message and its answer, each way within 2 s.
  private func exchange(_ message: Data, limit: Int) throws -> Data {
    let fd = try UnixSocket.connect(socket, timeout: 2)
    defer { close(fd) }
    try UnixSocket.write(fd, message)
    shutdown(fd, Int32(SHUT_WR))
    return try UnixSocket.readAll(fd, limit: limit)
  }

  /// Starts the router process, after stopping (and waiting out) a recorded one that has not
  /// answered its socket for `patience`: the new one binds the same ports.
  private func start() throws {
    // Only the agent's user may reach the control socket (it is made 0600 too, once bound).
    try FileManager.default.createDirectory(
      atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    if let stuck = running {
      logger.warning("router: the running router does not answer; replacing it", metadata: ["pid": "\(stuck)"])
      kill(-stuck, SIGKILL)
      let gone = Date().addingTimeInterval(5)
      while running != nil, Date() < gone {
        _ = waitpid(stuck, nil, WNOHANG)
        usleep(20_000)
      }
    }
    let environment = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME", "LANG", "TZ"].contains($0.key) }
    let child = try ChildProcess.spawn(
      [executable, "router", "--socket", socket], in: folder, environment: environment, log: folder + "/router.log")
    let ticks = ProcessRuntime.startTime(of: child.pid) ?? 0
    try "\(child.pid) \(ticks)".write(toFile: identityFile, atomically: true, encoding: .utf8)
    logger.info("router started", metadata: ["pid": "\(child.pid)", "socket": "\(socket)"])
    // Its socket appears within milliseconds; a router that cannot start says why in its log.
    let deadline = Date().addingTimeInterval(5)
    while Date() < deadline {
      if let fd = try? UnixSocket.connect(socket, timeout: 1) {
        close(fd)
        return
      }
      if ProcessRuntime.startTime(of: child.pid) == nil {
        _ = waitpid(child.pid, nil, WNOHANG)  // reaped, not left a zombie
        break
      }
      usleep(20_000)
    }
    throw RunError("the router process did not open \(socket) (see \(folder)/router.log)")
  }
}
