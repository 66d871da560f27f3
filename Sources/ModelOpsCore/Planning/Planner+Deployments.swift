extension PlanningContext {
  /// Roll out, scale, heal or roll back each deployment; a deployment following an alias that
  /// moves waits for the move.
  mutating func planDeployments() {
    for name in manifests.deployments.keys.sorted() {
      guard let deployment = manifests.deployments[name] else { continue }
      planDeployment(deployment, observed.deployments[name])
    }
  }

  private mutating func planDeployment(_ deployment: Deployment, _ seen: ObservedDeployment?) {
    if let rollback = rollbackAction(deployment, seen) {
      actions.append(rollback)
      return
    }
    let moved = planTarget(deployment, seen)
    // Whatever else holds or waits, the revision serving now keeps its replicas: a hold (a rolled
    // back revision, a preview waiting for `promote`, a version not registered) must not leave
    // the endpoint without them. A rollout or a scale takes care of them itself.
    if !moved, let seen, let active = seen.active, let heal = selfHeal(deployment, seen, active) {
      actions.append(heal)
    }
  }

  /// Plans the rollout or scale that brings a deployment to its desired revision and size, or
  /// the hold that says why it cannot; true when a rollout or scale was planned.
  private mutating func planTarget(_ deployment: Deployment, _ seen: ObservedDeployment?) -> Bool {
    let name = deployment.metadata.name
    let id = ResourceID(.deployment, name)
    guard let target = targetVersion(deployment) else { return false }
    let template = DesiredState.templateDigest(of: deployment)
    let strategy = Self.describe(deployment.spec.strategy)
    guard let seen, let active = seen.active else {
      var create = Action(
        .rollout, id, reason: "new deployment of \(deployment.spec.model) (\(target.label))", from: nil,
        to: "\(target.label) × \(deployment.spec.replicas)", dependsOn: target.dependsOn,
        detail: ["listen \(deployment.spec.listen)"])
      create.version = target.version
      actions.append(create)
      return true
    }
    let desired = target.version.map { Revision(modelVersion: $0, template: template) }
    if let desired, seen.failed.contains(desired) {
      actions.append(
        Action(
          .hold, id,
          reason: "revision \(desired) was rolled back"
            + (seen.failureReasons[desired].map { " (\($0))" } ?? "")
            + "; it is not retried until the desired revision changes or `agent retry \(name)` is run",
          from: active.description, to: desired.description))
      return false
    }
    if desired != active {
      var why: [String] = []
      if target.version != active.modelVersion {
        why.append("model \(deployment.spec.model.model) v\(active.modelVersion) → \(target.label)")
      }
      if template != active.template { why.append("replica template changed") }
      let resuming = desired != nil && seen.rolloutTarget == desired
      if resuming, case .blueGreen(let preview, false) = deployment.spec.strategy, seen.rolloutStep == 1,
        !seen.rolloutPromoted
      {
        actions.append(
          Action(
            .hold, id,
            reason: "\(desired?.description ?? target.label) is up on the preview listener"
              + (preview.map { " \($0)" } ?? "") + "; switch traffic to it with `agent promote \(name)`",
            from: active.description, to: desired?.description))
        return false
      }
      var rollout = Action(
        .rollout, id, reason: (resuming ? "resume the rollout in progress: " : "") + why.joined(separator: "; "),
        from: active.description, to: desired?.description ?? "\(target.label)/\(template.prefix(7))",
        dependsOn: target.dependsOn, detail: [strategy])
      rollout.version = target.version
      actions.append(rollout)
      return true
    }
    if seen.desiredReplicas != deployment.spec.replicas {
      actions.append(
        Action(
          .scale, id, reason: "replicas \(seen.desiredReplicas) → \(deployment.spec.replicas)",
          from: "\(seen.desiredReplicas)", to: "\(deployment.spec.replicas)"))
      return true
    }
    return false
  }

  /// The version a deployment should run once earlier actions ran; nil (with a hold) when unknown.
  private mutating func targetVersion(_ deployment: Deployment) -> (version: Int?, label: String, dependsOn: [String])?
  {
    let id = ResourceID(.deployment, deployment.metadata.name)
    let model = deployment.spec.model.model
    switch deployment.spec.model.selector {
    case .version(let version):
      if observed.models[model]?.version(version) != nil { return (version, "v\(version)", []) }
      if let register = registrations[model], register.to == "v\(version)" {
        return (nil, "v\(version)", [register.id])
      }
      actions.append(Action(.hold, id, reason: "version \(version) of model '\(model)' is not in the registry"))
      return nil
    case .alias(let alias):
      if let planned = plannedAliases[model]?[alias] {
        return (planned.version, planned.label, [planned.actionID])
      }
      if let current = observed.models[model]?.current(alias) { return (current, "v\(current)", []) }
      actions.append(
        Action(.hold, id, reason: "alias '\(alias)' of model '\(model)' points to no version yet: nothing to serve"))
      return nil
    }
  }

  /// A monitor with the `rollback` action is firing: back to the stable revision at once (the
  /// action's key names the monitor: the version rolled back from is rejected).
  private func rollbackAction(_ deployment: Deployment, _ seen: ObservedDeployment?) -> Action? {
    let name = deployment.metadata.name
    guard deployment.spec.rollback.auto, let seen else { return nil }
    let firing = manifests.monitors.values.filter {
      $0.spec.deployment == name && $0.spec.actions.contains(.rollback)
        && observed.firingMonitors.contains($0.metadata.name)
    }.map(\.metadata.name).sorted()
    guard let monitor = firing.first else { return nil }
    // A monitor that fired on a version no longer rolling out or serving (a rollback already
    // happened) moves nothing: rolling "back" again would return to the bad version.
    let judged = observed.firingVersions[monitor]
    if let judged, judged != (seen.rolloutTarget ?? seen.active)?.modelVersion { return nil }
    if let target = seen.rolloutTarget, let active = seen.active {
      return Action(
        .rollback, ResourceID(.deployment, name), key: monitor, reason: "monitor '\(monitor)' fired during the rollout",
        from: target.description, to: active.description)
    }
    if let active = seen.active, let previous = seen.previous {
      return Action(
        .rollback, ResourceID(.deployment, name), key: monitor, reason: "monitor '\(monitor)' fired after the rollout",
        from: active.description, to: previous.description)
    }
    return nil
  }

  /// Replicas of the active revision that exited, turned unhealthy, were altered, or are missing.
  private func selfHeal(_ deployment: Deployment, _ seen: ObservedDeployment, _ active: Revision) -> Action? {
    let mine = seen.replicas.filter { $0.revision == active }
    let broken = mine.filter { [.exited, .unhealthy, .altered].contains($0.health) }
    let missing = max(0, deployment.spec.replicas - mine.count)
    guard !broken.isEmpty || missing > 0 else { return nil }
    var why: [String] = []
    for health in [ObservedDeployment.ReplicaHealth.exited, .unhealthy, .altered] {
      let n = broken.filter { $0.health == health }.count
      if n > 0 {
        why.append(
          "\(n) replica\(n == 1 ? "" : "s") \(health.rawValue == "altered" ? "changed by hand" : health.rawValue)")
      }
    }
    if missing > 0 { why.append("\(missing) replica\(missing == 1 ? "" : "s") missing") }
    return Action(
      .replace, ResourceID(.deployment, deployment.metadata.name), reason: why.joined(separator: ", "),
      detail: broken.map(\.id).sorted())
  }

  /// `canary 10% (30s) → 50% (30s) → 100%`, `rolling (maxSurge 1, maxUnavailable 0)`, …
  static func describe(_ strategy: Deployment.Strategy) -> String {
    switch strategy {
    case .recreate: return "recreate: stop the old replicas, then start the new"
    case .rolling(let surge, let unavailable): return "rolling: maxSurge \(surge), maxUnavailable \(unavailable)"
    case .blueGreen(let preview, let auto):
      let previewText = preview.map { ", preview on \($0)" } ?? ""
      return "blue-green\(previewText), \(auto ? "switch when healthy" : "switch on `agent promote`")"
    case .canary(let steps, let routing):
      let weights = steps.map { step in
        let share = step.mirror > 0 ? "mirror \(step.mirror)%" : "\(step.weight)%"
        return step.pause.milliseconds > 0 ? "\(share) (\(step.pause))" : share
      }
      var text = "canary " + (weights + ["100%"]).joined(separator: " → ")
      if !routing.match.isEmpty {
        text +=
          "; only requests matching "
          + routing.match.map { "\($0.key.description) = \($0.value)" }
          .joined(separator: " or ") + " reach the new version"
      }
      if let sticky = routing.sticky { text += "; sticky by \(sticky.description)" }
      if steps.contains(where: { $0.mirror > 0 }) {
        let field = routing.compare.field.map { tolerance in
          "field \(tolerance)" + (routing.compare.tolerance > 0 ? " within \(routing.compare.tolerance)" : "")
        }
        text += "; mirrored answers compared by status and \(field ?? "body")"
      }
      return text
    }
  }
}
