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
}

/// Derives each resource's status from the plan and what was observed (pure).
public enum StatusReport {
  public static func statuses(desired: DesiredState, observed: ObservedState, plan: Plan) -> [ResourceStatus] {
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
      var (health, detail) = health(of: id, desired: desired, observed: observed)
      if health == .healthy, !changes.isEmpty { health = .progressing }
      if !holds.isEmpty, health != .degraded { health = .degraded }
      var reasons = changes.map(\.headline) + holds.map { "held: \($0.reason)" }
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
      return ResourceStatus(kind: id.kind, name: id.name, sync: sync, health: health, message: message)
    }
  }

  private static func health(of id: ResourceID, desired: DesiredState, observed: ObservedState)
    -> (ResourceStatus.Health, String)
  {
    switch id.kind {
    case .model:
      guard let model = desired.manifests.models[id.name] else { return (.unknown, "") }
      let seen = observed.models[id.name] ?? ObservedModel()
      let aliases = model.spec.aliases.map { alias in
        "\(alias.name)=\(seen.current(alias.name).map { "v\($0)" } ?? "none")"
      }
      return (.healthy, aliases.joined(separator: ", "))
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
}
