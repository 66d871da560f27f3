/// A metric watched on a deployment, with a threshold and what to do when it is breached.
public struct Monitor: Sendable, Hashable, Encodable {
  public var metadata: ObjectMeta
  public var spec: Spec

  public struct Spec: Sendable, Hashable, Encodable {
    public var deployment: String
    public var source: Source
    /// nil with an `alertmanager` source (the alert is the breach) and a `prometheus` one (the
    /// query's result is the value).
    public var metric: Metric?
    public var window: ManifestDuration?
    public var threshold: Threshold?
    /// How long a breach must hold before the monitor fires.
    public var forDuration = ManifestDuration(milliseconds: 0)
    public var actions: [Action] = [.notify]
  }

  public enum Source: Sendable, Hashable, Encodable {
    /// The agent scrapes each replica.
    case scrape(path: String, interval: ManifestDuration)
    /// A PromQL query evaluated every `interval` through the agent config's Prometheus;
    /// `$version` and `$deployment` are substituted. Its result is the value.
    case prometheus(query: String, interval: ManifestDuration)
    /// An alert pushed to the agent's webhook.
    case alertmanager(alertname: String)
    /// What the agent's router saw of the deployment's requests, per model version, read every
    /// `interval`: no instrumentation in the model server.
    case router(interval: ManifestDuration)
  }

  public enum Metric: Sendable, Hashable, Encodable {
    case ratio(numerator: String, denominator: String)
    case gauge(String)
    case quantile(histogram: String, q: Double)
    case drift(feature: String, method: DriftMethod)
    /// `router` source: the share of a version's answers that were 5xx, over the window.
    case errorRate
    /// `router` source: the `q` quantile of a version's latency (request read → answer's end).
    case latency(q: Double)
    /// `router` source: the share of a version's mirrored answers that agreed with the stable
    /// version's answers to the same requests (a canary's mirror step), over the window.
    case agreement
  }

  public enum DriftMethod: String, Sendable, Hashable, Encodable, CaseIterable {
    case psi, ks
  }

  public struct Threshold: Sendable, Hashable, Encodable {
    public var min: Double?
    public var max: Double?

    public init(min: Double? = nil, max: Double? = nil) {
      self.min = min
      self.max = max
    }
  }

  public enum Action: String, Sendable, Hashable, Encodable, CaseIterable {
    case rollback, retrain, notify
  }
}

extension Monitor.Metric {
  /// Whether the metric is one the router measures (`errorRate`, `latency`, `agreement`).
  public var isRouterMetric: Bool {
    switch self {
    case .errorRate, .latency, .agreement: return true
    default: return false
    }
  }
}
