import Foundation
import Logging
import ModelOpsCore
import Reconciler

#if canImport(Glibc)
  import Glibc
#endif

/// What crosses the control socket between the agent and its detached router: JSON, one message
/// per connection. A routing table (answered `ok`, or an error), or a request for the router's
/// metrics (`{"metrics": true}`, answered with `[RouterMetrics.Series]`).
struct RoutingTableMessage: Codable {
  struct Backend: Codable {
    var port: Int
    var version: Int
    var replica: String
    /// Absent: 127.0.0.1 (and from a router or agent older than the Ray runtime).
    var host: String?
    var prefix: String?
  }

  struct Route: Codable {
    var host: String
    var port: Int
    var previewHost: String?
    var previewPort: Int?
    var stable: [Backend]
    var canary: [Backend]
    var canaryWeight: Int
    /// A canary's A/B matches and sticky key (absent: none).
    var match: [TrafficMatch]?
    var sticky: TrafficKey?
    /// A mirror step's share of requests copied to the canary, and how answers are compared.
    var mirror: Int?
    var compare: AnswerComparison?
  }

  var routes: [String: Route]?
  var metrics: Bool?

  /// The largest message the router reads (a table of thousands of deployments fits).
  static let maxBytes = 16 << 20

  /// A request for the router's metrics.
  static let metricsRequest = RoutingTableMessage(routes: nil, metrics: true)

  private init(routes: [String: Route]?, metrics: Bool?) {
    self.routes = routes
    self.metrics = metrics
  }

  init(_ table: [String: DeploymentRoute]) {
    func wire(_ backends: [DeploymentRoute.Backend]) -> [Backend] {
      backends.map {
        Backend(
          port: $0.port, version: $0.version, replica: $0.replica, host: $0.host == "127.0.0.1" ? nil : $0.host,
          prefix: $0.pathPrefix.isEmpty ? nil : $0.pathPrefix)
      }
    }
    routes = table.mapValues { route in
      Route(
        host: route.listen.host, port: route.listen.port, previewHost: route.previewListen?.host,
        previewPort: route.previewListen?.port, stable: wire(route.stable), canary: wire(route.canary),
        canaryWeight: route.canaryWeight, match: route.routing.match.isEmpty ? nil : route.routing.match,
        sticky: route.routing.sticky, mirror: route.mirror > 0 ? route.mirror : nil,
        compare: route.mirror > 0 ? route.routing.compare : nil)
    }
  }

  var table: [String: DeploymentRoute] {
    func backends(_ wire: [Backend]) -> [DeploymentRoute.Backend] {
      wire.map {
        DeploymentRoute.Backend(
          port: $0.port, version: $0.version, replica: $0.replica, host: $0.host ?? "127.0.0.1",
          pathPrefix: $0.prefix ?? "")
      }
    }
    return (routes ?? [:]).mapValues { wire in
      var route = DeploymentRoute(
        listen: ListenAddress(host: wire.host, port: wire.port),
        previewListen: wire.previewPort.map { ListenAddress(host: wire.previewHost ?? "127.0.0.1", port: $0) })
      route.stable = backends(wire.stable)
      route.canary = backends(wire.canary)
      route.canaryWeight = min(100, max(0, wire.canaryWeight))
      route.routing = CanaryRouting(
        match: wire.match ?? [], sticky: wire.sticky, compare: wire.compare ?? AnswerComparison())
      route.mirror = min(100, max(0, wire.mirror ?? 0))
      return route
    }
  }
}

/// The detached router's side of the control socket: every message replaces the routing table of
/// the proxies. Runs on its own thread for the life of the process.
public final class RouterControlServer: Sendable {
  let router: ProxyRouter
  let path: String
  let logger: Logger

  public init(router: ProxyRouter, path: String, logger: Logger) {
    self.router = router
    self.path = path
    self.logger = logger
  }

  /// Listens on the socket and serves messages until the process ends.
  public func serve() throws -> Never {
    let listener = try UnixSocket.listen(path)
    logger.info("router control listening", metadata: ["socket": "\(path)"])
    while true {
      let fd = accept(listener, nil, nil)
      guard fd >= 0 else {
        // EINTR or an aborted connection: go on; anything else must not spin a core.
        if errno != EINTR, errno != ECONNABORTED { usleep(10_000) }
        continue
      }
      UnixSocket.setTimeout(fd, 5)
      let answer: String
      do {
        let data = try UnixSocket.readAll(fd, limit: RoutingTableMessage.maxBytes)
        let message = try JSONDecoder().decode(RoutingTableMessage.self, from: data)
        if message.metrics == true {
          answer = String(decoding: try JSONEncoder().encode(router.metrics.snapshot), as: UTF8.self)
        } else if message.routes == nil {
          answer = "error: a message needs 'routes' or 'metrics'"
        } else {
          router.update(message.table)
          let unbound = router.bindErrors.withLockedValue { $0 }
          answer =
            unbound.isEmpty
            ? "ok"
            : "error: cannot listen on "
              + unbound.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }
              .joined(separator: ", ")
        }
      } catch {
        logger.warning("router control: bad message", metadata: ["error": "\(error)"])
        answer = "error: \(error)"
      }
      try? UnixSocket.write(fd, Data(answer.utf8))
      close(fd)
    }
  }
}
