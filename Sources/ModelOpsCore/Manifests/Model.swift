/// A registered model: its aliases and the policy that moves them.
public struct Model: Sendable, Hashable, Encodable {
  public var metadata: ObjectMeta
  public var spec: Spec

  public struct Spec: Sendable, Hashable, Encodable {
    public var description: String?
    /// The Pipeline whose runs register versions of this model.
    public var pipeline: String?
    /// Desired aliases, in the order they were written.
    public var aliases: [Alias]
    /// Keep the newest N versions' artifacts.
    public var retain: Int = 50
  }

  /// One alias and how its version is chosen.
  public struct Alias: Sendable, Hashable, Encodable {
    public var name: String
    public var target: Target
  }

  public enum Target: Sendable, Hashable, Encodable {
    /// `version: N`: moving it is a git change.
    case pinned(version: Int)
    /// `policy: latest-passing`: the newest version that passes every gate.
    case latestPassing(LatestPassing)
  }

  public struct LatestPassing: Sendable, Hashable, Encodable {
    public var gates: [Gate]
    /// Only a version that holds (or held) this alias is a candidate.
    public var from: String?
    /// How long it must have held `from`.
    public var soak: ManifestDuration?
  }

  /// A metric condition a candidate version must pass.
  public struct Gate: Sendable, Hashable, Encodable {
    public var metric: String
    public var min: Double?
    public var max: Double?
    /// The alias whose version's metric must be beaten by `margin`.
    public var beats: String?
    public var margin: Double = 0
  }
}

extension Model.Spec {
  public func alias(named name: String) -> Model.Alias? { aliases.first { $0.name == name } }
}
