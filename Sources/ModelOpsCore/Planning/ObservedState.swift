import Foundation

/// What the agent last saw of the world: registry, runs, deployments, monitors, applied commit.
///
/// Built by the observer from the state store and the drivers; the planner only reads it.
public struct ObservedState: Sendable, Hashable {
  public var models: [String: ObservedModel] = [:]
  public var pipelines: [String: ObservedPipeline] = [:]
  public var deployments: [String: ObservedDeployment] = [:]
  /// Monitors firing now.
  public var firingMonitors: Set<String> = []
  /// Where each resource's last unfinished action left it (waiting, retrying, stalled), by `Kind/name`.
  public var conditions: [String: ResourceCondition] = [:]
  /// The model version each firing monitor fired on, when it judged one version (a scrape per
  /// version); a rollback follows only while that version is the one rolling out or serving.
  public var firingVersions: [String: Int] = [:]
  /// When each firing monitor fired (a retrain starts once per firing, not on every cycle).
  public var firingSince: [String: Date] = [:]
  /// Host-path input digests, by pipeline and input name, as last measured.
  public var hostInputDigests: [String: [String: String]] = [:]
  /// The resources of the last applied commit (what a deletion prunes).
  public var appliedResources: Set<ResourceID> = []
  public var appliedCommit: String?

  public init() {}
}

/// A model's versions in the registry, and its aliases with their history.
public struct ObservedModel: Sendable, Hashable {
  public var versions: [ModelVersion] = []
  /// alias → the periods each version held it, oldest first; the last open one is current.
  public var aliasHistory: [String: [AliasTenure]] = [:]

  public init(versions: [ModelVersion] = [], aliasHistory: [String: [AliasTenure]] = [:]) {
    self.versions = versions
    self.aliasHistory = aliasHistory
  }

  /// The version an alias points to now.
  public func current(_ alias: String) -> Int? {
    guard let last = aliasHistory[alias]?.last, last.until == nil else { return nil }
    return last.version
  }

  public func version(_ number: Int) -> ModelVersion? { versions.first { $0.version == number } }
}

public struct ModelVersion: Sendable, Hashable {
  public var version: Int
  public var metrics: [String: Double]
  public var createdAt: Date
  /// Failed analysis and was rolled back: never chosen by a policy again.
  public var rejected: Bool

  public init(version: Int, metrics: [String: Double] = [:], createdAt: Date, rejected: Bool = false) {
    self.version = version
    self.metrics = metrics
    self.createdAt = createdAt
    self.rejected = rejected
  }
}

/// One period a version held an alias.
public struct AliasTenure: Sendable, Hashable {
  public var version: Int
  public var since: Date
  public var until: Date?

  public init(version: Int, since: Date, until: Date? = nil) {
    self.version = version
    self.since = since
    self.until = until
  }
}

/// A pipeline's runs as far as planning needs them.
public struct ObservedPipeline: Sendable, Hashable {
  /// The last successful run: what it was trained from.
  public var lastSuccess: RunSummary?
  /// When the last run of any outcome started (a schedule fires once per slot).
  public var lastStartedAt: Date?
  public var running = false
  public var queued = false

  public init(lastSuccess: RunSummary? = nil, lastStartedAt: Date? = nil, running: Bool = false, queued: Bool = false) {
    self.lastSuccess = lastSuccess
    self.lastStartedAt = lastStartedAt
    self.running = running
    self.queued = queued
  }
}

public struct RunSummary: Sendable, Hashable {
  public var specDigest: String
  public var inputDigests: [String: String]
  public var commit: String?
  public var finishedAt: Date

  public init(specDigest: String, inputDigests: [String: String] = [:], commit: String? = nil, finishedAt: Date) {
    self.specDigest = specDigest
    self.inputDigests = inputDigests
    self.commit = commit
    self.finishedAt = finishedAt
  }
}

/// What a deployment runs: a model version in a replica template.
public struct Revision: Sendable, Hashable, CustomStringConvertible {
  public var modelVersion: Int
  public var template: String

  public init(modelVersion: Int, template: String) {
    self.modelVersion = modelVersion
    self.template = template
  }

  public var description: String { "v\(modelVersion)/\(template.prefix(7))" }
}

public struct ObservedDeployment: Sendable, Hashable {
  public enum ReplicaHealth: String, Sendable, Hashable {
    case healthy, starting, unhealthy, exited
    /// Changed or removed by hand (drift).
    case altered
  }

  public struct Replica: Sendable, Hashable {
    public var id: String
    public var revision: Revision
    public var health: ReplicaHealth

    public init(id: String, revision: Revision, health: ReplicaHealth) {
      self.id = id
      self.revision = revision
      self.health = health
    }
  }

  /// The revision serving all traffic (the stable one during a rollout).
  public var active: Revision?
  /// The revision being rolled out, and the strategy step it reached.
  public var rolloutTarget: Revision?
  public var rolloutStep = 0
  /// `agent promote` was given for the rollout's current wait (a blue-green preview's switch).
  public var rolloutPromoted = false
  public var replicas: [Replica] = []
  public var desiredReplicas = 0
  /// Revisions rolled back: not retried until the desired revision changes.
  public var failed: Set<Revision> = []
  /// Why each failed revision was rolled back (what `agent status` says).
  public var failureReasons: [Revision: String] = [:]
  /// The revision before `active`, the target of a rollback.
  public var previous: Revision?

  public init(active: Revision? = nil, replicas: [Replica] = [], desiredReplicas: Int = 0) {
    self.active = active
    self.replicas = replicas
    self.desiredReplicas = desiredReplicas
  }
}
