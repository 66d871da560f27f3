/// A served model: replicas of a command or image behind a stable endpoint, rolled out by a strategy.
public struct Deployment: Sendable, Hashable, Encodable {
  public var metadata: ObjectMeta
  public var spec: Spec

  public enum Runtime: String, Sendable, Hashable, Encodable, CaseIterable {
    case process, docker, ray
  }

  public struct Spec: Sendable, Hashable, Encodable {
    public var model: ModelReference
    /// nil: the agent configuration's runtime.
    public var runtime: Runtime?
    public var command: [String]?
    public var image: String?
    /// With `runtime: ray`: the Serve application each revision runs.
    public var ray: RayServeOptions?
    public var env: [String: String] = [:]
    public var replicas = 1
    /// Port a replica listens on inside its container.
    public var port = 8080
    /// The stable endpoint the agent routes to healthy replicas.
    public var listen: ListenAddress
    public var health = Health()
    public var strategy = Strategy.rolling(maxSurge: 1, maxUnavailable: 0)
    /// A rollout that has not finished by then fails and rolls back.
    public var progressDeadline = ManifestDuration.seconds(600)
    public var analysis = Analysis()
    public var rollback = Rollback()
    public var resources = Resources()
  }

  public struct Health: Sendable, Hashable, Encodable {
    public var path = "/healthz"
    public var interval = ManifestDuration.seconds(5)
    public var timeout = ManifestDuration.seconds(1)
    public var failureThreshold = 3
    public var startupTimeout = ManifestDuration.seconds(60)

    public init() {}
  }

  public enum Strategy: Sendable, Hashable, Encodable {
    case recreate
    case rolling(maxSurge: Int, maxUnavailable: Int)
    case blueGreen(previewListen: ListenAddress?, autoPromote: Bool)
    case canary(steps: [CanaryStep], routing: CanaryRouting = CanaryRouting())

    /// Blue-green's preview address, where the new revision is reachable before the switch.
    public var previewListen: ListenAddress? {
      if case .blueGreen(let preview, _) = self { return preview }
      return nil
    }

    public var typeName: String {
      switch self {
      case .recreate: return "recreate"
      case .rolling: return "rolling"
      case .blueGreen: return "bluegreen"
      case .canary: return "canary"
      }
    }
  }

  public struct CanaryStep: Sendable, Hashable, Encodable {
    /// Percent of traffic on the new version (0 in a mirror step).
    public var weight: Int
    public var pause: ManifestDuration
    /// A shadow step: percent of requests also sent to the new version, whose answers are
    /// compared with the stable ones and never reach the client (0: a weight step).
    public var mirror = 0

    public init(weight: Int, pause: ManifestDuration, mirror: Int = 0) {
      self.weight = weight
      self.pause = pause
      self.mirror = mirror
    }

    private enum CodingKeys: String, CodingKey { case weight, pause, mirror }

    public func encode(to encoder: any Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      if mirror > 0 { try c.encode(mirror, forKey: .mirror) } else { try c.encode(weight, forKey: .weight) }
      try c.encode(pause, forKey: .pause)
    }
  }

  public struct Analysis: Sendable, Hashable, Encodable {
    public var monitors: [String] = []
  }

  public struct Rollback: Sendable, Hashable, Encodable {
    public var auto = true
    /// How long the previous revision's replicas keep running (out of traffic) after a switch,
    /// so a rollback in that time moves traffic back at once.
    public var scaleDownDelay = ManifestDuration.seconds(30)
  }

  public struct Resources: Sendable, Hashable, Encodable {
    public var memory: ByteSize?
    /// CPUs as a decimal ("0.5", "2").
    public var cpus: Double?
  }
}

/// `NAME@ALIAS` or `NAME@VERSION`.
public struct ModelReference: Sendable, Hashable, EncodedAsText {
  public enum Selector: Sendable, Hashable, Encodable {
    case alias(String)
    case version(Int)
  }
  public var model: String
  public var selector: Selector

  public init(model: String, selector: Selector) {
    self.model = model
    self.selector = selector
  }

  public var description: String {
    switch selector {
    case .alias(let a): return "\(model)@\(a)"
    case .version(let v): return "\(model)@\(v)"
    }
  }

}

/// `host:port` of a listening socket (`[::1]:port` for IPv6).
public struct ListenAddress: Sendable, Hashable, EncodedAsText {
  public var host: String
  public var port: Int

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

}
