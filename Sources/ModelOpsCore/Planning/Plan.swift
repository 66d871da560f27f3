/// One thing the agent would do, with the reason a person reads and what it waits for.
public struct Action: Sendable, Hashable, Encodable {
  public enum Verb: String, Sendable, Hashable, Encodable, CaseIterable {
    /// Start a training run.
    case train
    /// Register the version a run produces.
    case register
    /// Move an alias to another version (or set it for the first time).
    case promote
    /// Remove an alias (it left the manifest).
    case demote
    /// Roll out a new revision (or create the deployment).
    case rollout
    /// Change the number of replicas of the active revision.
    case scale
    /// Replace replicas that exited, turned unhealthy or were altered (self-heal).
    case replace
    /// Move all traffic back to the previous revision.
    case rollback
    /// Remove a resource that left git (prune).
    case delete
    /// Nothing is done, on purpose (a failed revision, a missing version, a guard).
    case hold
  }

  /// Stable identity within a plan, used by `dependsOn`: `verb/Kind/name[/detail]`.
  public var id: String
  public var verb: Verb
  public var resource: ResourceID
  public var reason: String
  public var from: String?
  public var to: String?
  public var dependsOn: [String] = []
  /// Lines of detail shown under the action (e.g. the rollout steps).
  public var detail: [String] = []
  /// What the action is about within its resource (an alias name, a version label), if anything.
  public var key: String?
  /// The model version the action moves to, when it exists already (promote, rollout).
  public var version: Int?

  public init(
    _ verb: Verb, _ resource: ResourceID, key: String? = nil, reason: String, from: String? = nil, to: String? = nil,
    dependsOn: [String] = [], detail: [String] = []
  ) {
    self.id = [verb.rawValue, resource.description, key].compactMap { $0 }.joined(separator: "/")
    self.key = key
    self.verb = verb
    self.resource = resource
    self.reason = reason
    self.from = from
    self.to = to
    self.dependsOn = dependsOn
    self.detail = detail
  }

  enum CodingKeys: String, CodingKey {
    case id, kind, name, action, reason, from, to, dependsOn, detail
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(id, forKey: .id)
    try c.encode(resource.kind.rawValue, forKey: .kind)
    try c.encode(resource.name, forKey: .name)
    try c.encode(verb.rawValue, forKey: .action)
    try c.encode(reason, forKey: .reason)
    try c.encode(from, forKey: .from)
    try c.encode(to, forKey: .to)
    try c.encode(dependsOn, forKey: .dependsOn)
    try c.encode(detail, forKey: .detail)
  }
}

/// The ordered actions that would bring what runs in line with one commit.
public struct Plan: Sendable, Hashable {
  public var commit: String?
  /// In dependency order: train → register → promote → roll out, then the rest; by name within.
  public var actions: [Action]

  public init(commit: String?, actions: [Action]) {
    self.commit = commit
    self.actions = actions
  }

  /// Whether applying the plan would change anything (holds change nothing).
  public var hasChanges: Bool { actions.contains { $0.verb != .hold } }

  public func count(_ verb: Action.Verb) -> Int { actions.filter { $0.verb == verb }.count }
}
