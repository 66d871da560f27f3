/// A resource's identity: its kind and name.
public struct ResourceID: Sendable, Hashable, Comparable, CustomStringConvertible {
  public var kind: ResourceKind
  public var name: String

  public init(_ kind: ResourceKind, _ name: String) {
    self.kind = kind
    self.name = name
  }

  public var description: String { "\(kind.rawValue)/\(name)" }

  public static func < (a: ResourceID, b: ResourceID) -> Bool { (a.kind, a.name) < (b.kind, b.name) }
}

/// The resources of one manifests tree, by kind and name, with where each was declared.
public struct ManifestSet: Sendable, Hashable {
  public internal(set) var models: [String: Model] = [:]
  public internal(set) var pipelines: [String: Pipeline] = [:]
  public internal(set) var deployments: [String: Deployment] = [:]
  public internal(set) var monitors: [String: Monitor] = [:]
  /// The location of each resource's `metadata.name`.
  public internal(set) var locations: [ResourceID: SourceLocation] = [:]

  public init() {}

  public var count: Int { locations.count }

  public func count(of kind: ResourceKind) -> Int {
    switch kind {
    case .model: return models.count
    case .pipeline: return pipelines.count
    case .deployment: return deployments.count
    case .monitor: return monitors.count
    }
  }

  public func contains(_ id: ResourceID) -> Bool { locations[id] != nil }

  /// Makes room for resources of the given kinds, so that adding them does not grow the tables.
  mutating func reserveCapacity(for kinds: some Sequence<ResourceKind>) {
    var counts: [ResourceKind: Int] = [:]
    for kind in kinds { counts[kind, default: 0] += 1 }
    models.reserveCapacity(counts[.model] ?? 0)
    pipelines.reserveCapacity(counts[.pipeline] ?? 0)
    deployments.reserveCapacity(counts[.deployment] ?? 0)
    monitors.reserveCapacity(counts[.monitor] ?? 0)
    locations.reserveCapacity(counts.values.reduce(0, +))
  }

  /// Adds a resource; false (and nothing added) when one of that kind and name exists.
  mutating func insert(_ manifest: consuming Manifest, at location: SourceLocation) -> Bool {
    let id = ResourceID(manifest.kind, manifest.metadata.name)
    guard locations[id] == nil else { return false }
    locations[id] = location
    switch consume manifest {
    case .model(let r): models[r.metadata.name] = r
    case .pipeline(let r): pipelines[r.metadata.name] = r
    case .deployment(let r): deployments[r.metadata.name] = r
    case .monitor(let r): monitors[r.metadata.name] = r
    }
    return true
  }

  /// Takes a resource out.
  mutating func remove(_ id: ResourceID) {
    locations[id] = nil
    switch id.kind {
    case .model: models[id.name] = nil
    case .pipeline: pipelines[id.name] = nil
    case .deployment: deployments[id.name] = nil
    case .monitor: monitors[id.name] = nil
    }
  }
}
