import ModelOpsCore

/// Where a deployment's traffic goes: the healthy replicas of the stable revision, those of the
/// revision being rolled out, and the share of requests (percent) the new one gets.
public struct DeploymentRoute: Sendable, Hashable {
  public struct Backend: Sendable, Hashable {
    public var port: Int
    public var version: Int
    public var replica: String
    /// Where it answers: this host's loopback for processes and containers; Serve's proxy for a
    /// Ray Serve application, which is told apart by `pathPrefix` (its route prefix, put before
    /// each request's path).
    public var host = "127.0.0.1"
    public var pathPrefix = ""

    public init(port: Int, version: Int, replica: String, host: String = "127.0.0.1", pathPrefix: String = "") {
      self.port = port
      self.version = version
      self.replica = replica
      self.host = host
      self.pathPrefix = pathPrefix
    }

    /// The connection it is reached through (pooled per address).
    public var address: ListenAddress { ListenAddress(host: host, port: port) }
  }

  public var listen: ListenAddress
  /// Blue-green: the address that reaches the new revision before the switch.
  public var previewListen: ListenAddress?
  public var stable: [Backend] = []
  public var canary: [Backend] = []
  /// 0…100: the share of requests sent to `canary` (the rest go to `stable`).
  public var canaryWeight = 0
  /// A canary's A/B matches and sticky key (empty: the weight alone splits the requests), and
  /// how mirrored answers are compared.
  public var routing = CanaryRouting()
  /// 0…100: the share of requests answered by `stable` whose copy also goes to `canary`, in a
  /// canary's mirror step (the copy's answer is compared, never returned).
  public var mirror = 0

  public init(listen: ListenAddress, previewListen: ListenAddress? = nil) {
    self.listen = listen
    self.previewListen = previewListen
  }
}

/// The per-deployment reverse proxies: in production a router process that outlives the agent
/// (`DetachedRouter`), in tests possibly in-process (`ProxyRouter`).
public protocol TrafficRouter: Sendable {
  /// Replaces the whole routing table: listeners open for new deployments, close for removed ones.
  func update(_ routes: [String: DeploymentRoute])

  /// Called by the replica supervisor between passes: a router that runs apart from the agent
  /// and is gone is started again with the last table (an in-process router has nothing to do).
  func heartbeat()

  /// The router's own metrics in Prometheus' text format (`modelops_router_*`), for `/metrics`.
  func metricsText() -> String
}

extension TrafficRouter {
  public func heartbeat() {}
  public func metricsText() -> String { "" }
}
