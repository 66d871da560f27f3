import Foundation

extension PlanningContext {
  /// Train a pipeline whose spec, inputs, schedule or alerts call for it; the run registers a version.
  mutating func planTraining() {
    for name in manifests.pipelines.keys.sorted() {
      guard let pipeline = manifests.pipelines[name] else { continue }
      let id = ResourceID(.pipeline, name)
      let seen = observed.pipelines[name] ?? ObservedPipeline()
      let reasons = trainingReasons(pipeline, seen)
      guard !reasons.isEmpty else { continue }
      if seen.running {
        let note = seen.queued ? "a run is in progress and one is already queued" : "queued behind the run in progress"
        actions.append(Action(.hold, id, reason: "\(reasons.joined(separator: "; ")): \(note)"))
        continue
      }
      let train = Action(.train, id, reason: reasons.joined(separator: "; "))
      actions.append(train)
      let model = pipeline.spec.model
      let latest = observed.models[model]?.versions.map(\.version).max()
      let next = (latest ?? 0) + 1
      let register = Action(
        .register, ResourceID(.model, model), key: "v\(next)",
        reason: "a successful run of '\(name)' registers a new version",
        from: latest.map { "v\($0)" }, to: "v\(next)", dependsOn: [train.id])
      registrations[model] = register
      actions.append(register)
    }
  }

  private func trainingReasons(_ pipeline: Pipeline, _ seen: ObservedPipeline) -> [String] {
    let name = pipeline.metadata.name
    let triggers = pipeline.spec.triggers
    guard let last = seen.lastSuccess else { return ["no successful run yet"] }
    var reasons: [String] = []
    if triggers.onSpecChange, desired.specDigest(of: pipeline) != last.specDigest {
      reasons.append("spec, params or workdir changed since the last run")
    }
    if triggers.onInputChange {
      for input in pipeline.spec.inputs {
        let current: String?
        switch input.source {
        case .dvc: current = desired.dvcDigests[name]?[input.name]
        case .hostPath: current = observed.hostInputDigests[name]?[input.name]
        }
        if let current, current != last.inputDigests[input.name] {
          reasons.append("input '\(input.name)' changed")
        }
      }
    }
    if let schedule = triggers.schedule {
      let zone = triggers.timezone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC") ?? .current
      if let fire = schedule.previousFire(atOrBefore: now, in: zone), fire > (seen.lastStartedAt ?? last.finishedAt) {
        reasons.append("schedule '\(schedule.description)' is due")
      }
    }
    // Monitors that retrain this pipeline: those it lists in onAlert, and those with the
    // `retrain` action on a deployment serving its model. Once per firing.
    let retraining = manifests.monitors.values.filter {
      $0.spec.actions.contains(.retrain)
        && manifests.deployments[$0.spec.deployment]?.spec.model.model == pipeline.spec.model
    }.map(\.metadata.name)
    for monitor in Set(triggers.onAlert + retraining).sorted() where observed.firingMonitors.contains(monitor) {
      if let since = observed.firingSince[monitor], let started = seen.lastStartedAt, started >= since { continue }
      let version = observed.firingVersions[monitor].map { " on v\($0)" } ?? ""
      reasons.append("monitor '\(monitor)' fired\(version)")
    }
    return reasons
  }
}
