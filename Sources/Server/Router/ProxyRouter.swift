import Foundation
import Logging
import ModelOpsCore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Reconciler
import ServiceLifecycle

/// The stable endpoints, in the router process (`agent router`): one HTTP/1.1 reverse proxy per deployment `listen` (and
/// blue-green `previewListen`) address, on SwiftNIO. Each request goes to a healthy replica — to
/// the new revision with the canary weight's probability — and its response carries
/// `X-Model-Version`, so a client sees which version answered.
///
/// The table is replaced whole by the serving executor; listeners open and close to match it.
/// As a `Service` it closes every listener on a graceful shutdown (replicas keep running and are
/// adopted by the next agent).
public final class ProxyRouter: TrafficRouter, Service {
  struct Listener {
    var deployment: String
    var preview: Bool
    var channel: Channel
  }

  let group: any EventLoopGroup
  let logger: Logger
  /// Deployment → where its traffic goes.
  let table = NIOLockedValueBox<[String: DeploymentRoute]>([:])
  /// `host:port` → the listening channel (and which deployment it serves).
  let listeners = NIOLockedValueBox<[String: Listener]>([:])
  /// Addresses that could not be bound, with the reason (reported once, retried on each update).
  let bindErrors = NIOLockedValueBox<[String: String]>([:])
  /// Largest request body forwarded (bigger ones get 413).
  let maxBody: Int
  /// Every answer, by deployment and model version.
  public let metrics = RouterMetrics()
  /// Kept-alive replica connections, one pool per event loop.
  let pools = NIOLockedValueBox<[ObjectIdentifier: BackendPool]>([:])

  public init(
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, maxBody: Int = 16 << 20, logger: Logger
  ) {
    self.group = group
    self.maxBody = maxBody
    self.logger = logger
  }

  public func update(_ routes: [String: DeploymentRoute]) {
    table.withLockedValue { $0 = routes }
    var wanted: [String: (deployment: String, preview: Bool, address: ListenAddress)] = [:]
    for (name, route) in routes {
      wanted[route.listen.description] = (name, false, route.listen)
      if let preview = route.previewListen { wanted[preview.description] = (name, true, preview) }
    }
    let stale = listeners.withLockedValue { open in
      let gone = open.filter { key, listener in
        wanted[key].map { $0.deployment != listener.deployment || $0.preview != listener.preview } ?? true
      }
      for key in gone.keys { open.removeValue(forKey: key) }
      return Array(gone.values)
    }
    for listener in stale {
      try? listener.channel.close().wait()
      logger.info("router closed", metadata: ["deployment": "\(listener.deployment)"])
    }
    let open = listeners.withLockedValue { Set($0.keys) }
    for (key, want) in wanted.sorted(by: { $0.key < $1.key }) where !open.contains(key) {
      do {
        let channel = try bind(want.address, deployment: want.deployment, preview: want.preview)
        listeners.withLockedValue {
          $0[key] = Listener(deployment: want.deployment, preview: want.preview, channel: channel)
        }
        bindErrors.withLockedValue { _ = $0.removeValue(forKey: key) }
        logger.info(
          "router listening",
          metadata: ["deployment": "\(want.deployment)", "listen": "\(key)", "preview": "\(want.preview)"])
      } catch {
        let first = bindErrors.withLockedValue { errors in
          defer { errors[key] = "\(error)" }
          return errors[key] == nil
        }
        if first { logger.error("router cannot listen", metadata: ["listen": "\(key)", "error": "\(error)"]) }
      }
    }
  }

  public func metricsText() -> String { RouterMetrics.exposition(metrics.snapshot) }

  /// The addresses listened on now.
  public var addresses: [String] { listeners.withLockedValue { $0.keys.sorted() } }

  public func run() async throws {
    try? await gracefulShutdown()
    close()
  }

  public func close() {
    let all = listeners.withLockedValue { open in
      defer { open.removeAll() }
      return Array(open.values)
    }
    for listener in all { try? listener.channel.close().wait() }
    for pool in pools.withLockedValue({ Array($0.values) }) { pool.eventLoop.execute { pool.closeAll() } }
  }

  /// Where a request's copy goes in a mirror step, and how the two answers are compared.
  struct Shadow {
    var backend: DeploymentRoute.Backend
    var compare: AnswerComparison
  }

  /// Picks the replica for one request: on a preview listener the new revision; otherwise, when
  /// both revisions have healthy replicas, the stable one in a mirror step (with `shadow` set for
  /// the mirrored share of requests), the new one for a request matching the canary's A/B
  /// matches (and for no other request, when it has matches), else by the canary weight: the
  /// sticky key's bucket when the request carries it, a random draw when not.
  func pick(
    _ deployment: String, preview: Bool, request: HTTPRequestHead, excluding tried: Set<String> = [],
    shadow: inout Shadow?, using random: inout some RandomNumberGenerator
  ) -> DeploymentRoute.Backend? {
    guard let route = table.withLockedValue({ $0[deployment] }) else { return nil }
    func any(_ backends: [DeploymentRoute.Backend]) -> DeploymentRoute.Backend? {
      let left = tried.isEmpty ? backends : backends.filter { !tried.contains($0.replica) }
      return left.count == 1 ? left[0] : left.randomElement(using: &random)
    }
    if preview { return any(route.canary) }
    guard !route.canary.isEmpty, !route.stable.isEmpty else { return any(route.stable + route.canary) }
    if route.mirror > 0 {
      // Clients get only stable answers; a share of requests is copied to the new revision.
      let copied = route.mirror >= 100 || Int.random(in: 0..<100, using: &random) < route.mirror
      if tried.isEmpty, copied, let target = route.canary.randomElement(using: &random) {
        shadow = Shadow(backend: target, compare: route.routing.compare)
      }
      return any(route.stable)
    }
    let canary: Bool
    if !route.routing.match.isEmpty {
      canary = route.routing.match.contains { rule in
        TrafficRequest.value(of: rule.key, in: request.headers).map { $0 == rule.value } ?? false
      }
    } else if let key = route.routing.sticky, let value = TrafficRequest.value(of: key, in: request.headers) {
      canary = CanaryRouting.bucket(of: value) < route.canaryWeight
    } else {
      canary =
        route.canaryWeight >= 100
        || (route.canaryWeight > 0 && Int.random(in: 0..<100, using: &random) < route.canaryWeight)
    }
    return any(canary ? route.canary : route.stable)
  }

  /// The replica connections of an event loop (made on first use).
  func pool(for eventLoop: any EventLoop) -> BackendPool {
    pools.withLockedValue { pools in
      let key = ObjectIdentifier(eventLoop)
      if let pool = pools[key] { return pool }
      let pool = BackendPool(eventLoop: eventLoop)
      pools[key] = pool
      return pool
    }
  }

  private func bind(_ address: ListenAddress, deployment: String, preview: Bool) throws -> Channel {
    let maxBody = maxBody
    return try ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 256)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
      .childChannelInitializer { [self] channel in
        channel.eventLoop.makeCompletedFuture {
          // Outbound header validation is off: replicas' headers were parsed by the client decoder,
          // the router's own are constant.
          try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withErrorHandling: true, withOutboundHeaderValidation: false)
          try channel.pipeline.syncOperations.addHandler(
            ProxyHandler(
              router: self, pool: pool(for: channel.eventLoop), deployment: deployment, preview: preview,
              maxBody: maxBody))
        }
      }
      .bind(host: address.host, port: address.port).wait()
  }
}
