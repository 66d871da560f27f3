/// The four kinds of resource a manifests repository declares.
public enum ResourceKind: String, Sendable, Hashable, CaseIterable, Codable, Comparable {
  case model = "Model"
  case pipeline = "Pipeline"
  case deployment = "Deployment"
  case monitor = "Monitor"

  /// Dependency order: a model before the pipeline that trains it, deployments before monitors.
  private var rank: Int {
    switch self {
    case .model: return 0
    case .pipeline: return 1
    case .deployment: return 2
    case .monitor: return 3
    }
  }

  public static func < (a: ResourceKind, b: ResourceKind) -> Bool { a.rank < b.rank }
}

/// The one supported `apiVersion`.
public let manifestAPIVersion = "modelops/v1"

/// `metadata` of every resource, with where its document starts.
public struct ObjectMeta: Sendable, Hashable, Encodable {
  public var name: String
  public var labels: [String: String] = [:]
  public var annotations: [String: String] = [:]

  public init(name: String, labels: [String: String] = [:], annotations: [String: String] = [:]) {
    self.name = name
    self.labels = labels
    self.annotations = annotations
  }
}

/// One validated resource of any kind.
public enum Manifest: Sendable, Hashable {
  case model(Model)
  case pipeline(Pipeline)
  case deployment(Deployment)
  case monitor(Monitor)

  public var kind: ResourceKind {
    switch self {
    case .model: return .model
    case .pipeline: return .pipeline
    case .deployment: return .deployment
    case .monitor: return .monitor
    }
  }

  public var metadata: ObjectMeta {
    switch self {
    case .model(let r): return r.metadata
    case .pipeline(let r): return r.metadata
    case .deployment(let r): return r.metadata
    case .monitor(let r): return r.metadata
    }
  }
}
