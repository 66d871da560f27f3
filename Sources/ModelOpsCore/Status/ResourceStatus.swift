import Foundation

/// One resource as `agent status` shows it: in sync with git or not, healthy or not, and why.
public struct ResourceStatus: Sendable, Hashable, Codable {
  public enum Sync: String, Sendable, Hashable, Codable {
    case synced
    case outOfSync = "out-of-sync"
    /// In the last applied commit, gone from git, not yet pruned.
    case pruning
  }

  public enum Health: String, Sendable, Hashable, Codable {
    case healthy, progressing, degraded, unknown
  }

  public var kind: ResourceKind
  public var name: String
  public var sync: Sync
  public var health: Health
  /// Why: the pending actions, the hold, the failed run, the firing monitor.
  public var message: String
  /// The model version it is about now: a deployment's serving version (`v1→v2` while rolling
  /// out), a model's newest, a firing monitor's; nil when none.
  public var version: String?
}

/// Derives each resource's status from the plan and what was observed (pure).
public enum StatusReport {
  public static func statuses(desired: DesiredState, observed: ObservedState, plan: Plan, now: Date = Date())
    -> [ResourceStatus]
  {
    var byResource: [ResourceID: [Action]] = [:]
    for action in plan.actions { byResource[action.resource, default: []].append(action) }
    let ids = Set(desired.manifests.locations.keys).union(plan.actions.map(\.resource)).sorted()
    return ids.map { id in
      let actions = byResource[id] ?? []
      let changes = actions.filter { $0.verb != .hold }
      let holds = actions.filter { $0.verb == .hold }
      var sync = ResourceStatus.Sync.synced
      if actions.contains(where: { $0.verb == .delete }) {
        sync = .pruning
      } else if !changes.isEmpty || !holds.isEmpty {
        sync = .outOfSync
      }
      var (health, detail) = health(of: id, desired: desired, observed: observed, now: now)
      if health == .healthy, !changes.isEmpty { health = .progressing }
      if !holds.isEmpty, health != .degraded { health = .degraded }
      // A replacement says what it replaces (its headline has no from or to).
      var reasons =
        changes.map { $0.verb == .replace ? "replace: \($0.reason)" : $0.headline } + holds.map { "held: \($0.reason)" }
      if let condition = observed.conditions[id.description] {
        // What the agent is doing about it: waiting for work or time, retrying, or stalled.
        reasons.insert(condition.summary, at: 0)
        if condition.state != .waiting {
          health = .degraded
        } else if health == .healthy || health == .unknown {
          health = .progressing
        }
      }
      let message = (reasons + [detail]).filter { !$0.isEmpty }.joined(separator: "; ")
      return ResourceStatus(
        kind: id.kind, name: id.name, sync: sync, health: health, message: message,
        version: version(of: id, observed: observed))
    }
  }

  private static func health(of id: ResourceID, desired: DesiredState, observed: ObservedState, now: Date)
    -> (ResourceStatus.Health, String)
  {
    switch id.kind {
    case .model:
      guard let model = desired.manifests.models[id.name] else { return (.unknown, "") }
      let seen = observed.models[id.name] ?? ObservedModel()
      let aliases = model.spec.aliases.map { alias in
        "\(alias.name)=\(seen.current(alias.name).map { "v\($0)" } ?? "none")"
      }
      // Why a newer version did not take an alias, and which deployment serves another version
      // than the alias it follows (a rollback, a rollout in progress).
      let held = AliasPolicy.heldBack(model, seen, now: now).sorted { $0.key < $1.key }.map { alias, held in
        "\(held.description) (not \(alias))"
      }
      let serving = desired.manifests.deployments.values.filter { $0.spec.model.model == id.name }
        .sorted { $0.metadata.name < $1.metadata.name }
        .compactMap { deployment -> String? in
          guard case .alias(let alias) = deployment.spec.model.selector,
            let active = observed.deployments[deployment.metadata.name]?.active,
            let current = seen.current(alias), current != active.modelVersion
          else { return nil }
          return "\(deployment.metadata.name) serves v\(active.modelVersion), not \(alias)=v\(current)"
        }
      return (.healthy, ([aliases.joined(separator: ", ")] + held + serving).joined(separator: "; "))
    case .pipeline:
      let seen = observed.pipelines[id.name] ?? ObservedPipeline()
      if seen.running { return (.progressing, "a run is in progress") }
      if let last = seen.lastStartedAt, let success = seen.lastSuccess, success.finishedAt < last {
        return (.degraded, "the last run failed (agent history \(id.name))")
      }
      if seen.lastSuccess == nil, seen.lastStartedAt != nil {
        return (.degraded, "no run has succeeded yet (agent history \(id.name))")
      }
      guard let success = seen.lastSuccess else { return (.unknown, "never run") }
      return (.healthy, "last run succeeded" + (success.commit.map { " at commit \($0.prefix(12))" } ?? ""))
    case .deployment:
      guard let seen = observed.deployments[id.name], let active = seen.active else {
        return (.unknown, "not serving")
      }
      // Health is about now: the replicas serving. A rolled-back revision still desired shows as
      // the plan's hold; older rollbacks are history (`agent history`), not a lasting "degraded".
      let healthy = seen.replicas.filter { $0.revision == active && $0.health == .healthy }.count
      // Judged against the size the agent last set; a pending scale shows as progressing instead.
      let wanted = seen.desiredReplicas
      if healthy == 0, wanted > 0 {
        return (.degraded, "no healthy replica of \(active): the endpoint answers 503 until one is")
      }
      return (healthy >= wanted ? .healthy : .degraded, "serving \(active), \(healthy)/\(wanted) replicas healthy")
    case .monitor:
      return observed.firingMonitors.contains(id.name) ? (.degraded, "firing") : (.healthy, "not firing")
    }
  }

  private static func version(of id: ResourceID, observed: ObservedState) -> String? {
    switch id.kind {
    case .model:
      return observed.models[id.name]?.versions.map(\.version).max().map { "v\($0)" }
    case .deployment:
      guard let seen = observed.deployments[id.name], let active = seen.active else { return nil }
      return "v\(active.modelVersion)" + (seen.rolloutTarget.map { "→v\($0.modelVersion)" } ?? "")
    case .monitor:
      return observed.firingVersions[id.name].map { "v\($0)" }
    case .pipeline:
      return nil
    }
  }
}
