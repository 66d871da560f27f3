import Drivers
import Foundation
import ModelOpsCore
import StateStore

extension RolloutMachine {
  /// One pass of the strategy from the saved step: does what is due now (start replicas, move
  /// weight, end a pause) and returns `.done` once the target may take all traffic, or `.waiting`
  /// with when to look again. Only `record`'s saved fields carry state from one pass to the next.
  func advance(_ deployment: Deployment, _ record: inout DeploymentRecord, now: Date) throws -> StepResult {
    guard let target = record.rollout else { return .done("nothing to roll out") }
    let count = deployment.spec.replicas
    let commit = record.rolloutCommit
    guard record.active != nil else {
      // A first deployment has nothing to shift traffic from.
      let state = try replicas.ensure(deployment, target, commit: commit, count: count)
      return state.ready >= count ? .done("") : waitingForReplicas(state, of: count, deployment, record)
    }
    if case .blueGreen = deployment.spec.strategy, let active = record.active {
      try healStable(deployment, active, record)
    } else if case .canary = deployment.spec.strategy, let active = record.active {
      try healStable(deployment, active, record)
    }
    switch deployment.spec.strategy {
    case .recreate:
      for replica in try store.replicas(of: deployment.metadata.name) where replica.revision != target {
        try replicas.stop(replica)
      }
      routing.publish()
      let state = try replicas.ensure(deployment, target, commit: commit, count: count)
      return state.ready >= count ? .done("") : waitingForReplicas(state, of: count, deployment, record)
    case .rolling(let surge, let unavailable):
      return try rolling(deployment, &record, maxSurge: surge, maxUnavailable: unavailable, now: now)
    case .blueGreen(_, let autoPromote):
      // The new revision comes up beside the old one, reachable on the preview listener only.
      let state = try replicas.ensure(deployment, target, commit: commit, count: count)
      guard state.ready >= count else { return waitingForReplicas(state, of: count, deployment, record) }
      if autoPromote || record.rolloutPauseSkipped { return .done("") }
      if record.rolloutStep != 1 {
        // Step 1: previewing, until `agent promote`.
        record.rolloutStep = 1
        record.rolloutProgressAt = now
        try store.saveDeployment(record)
        routing.publish()
      }
      let preview = deployment.spec.strategy.previewListen.map { " on \($0)" } ?? ""
      return .waiting(
        until: nil,
        reason: "\(target) is up on the preview listener\(preview); switch with `agent promote \(record.name)`")
    case .canary(let steps, _):
      return try canary(deployment, &record, steps: steps, now: now)
    }
  }

  /// Canary: each step brings up enough replicas for its weight (or mirrored share), moves the
  /// weight, then holds for its pause (counted from the step's saved start) and until every
  /// analysis monitor has judged the version; `agent promote` ends the current pause. A mirror
  /// step keeps the version's agreement with the stable answers recorded with the version.
  private func canary(
    _ deployment: Deployment, _ record: inout DeploymentRecord, steps: [Deployment.CanaryStep], now: Date
  ) throws -> StepResult {
    guard let target = record.rollout else { return .done("") }
    let count = deployment.spec.replicas
    while record.rolloutStep < steps.count {
      let step = steps[record.rolloutStep]
      let share = max(step.weight, step.mirror)
      let needed = max(1, Int((Double(count) * Double(share) / 100).rounded(.up)))
      let state = try replicas.ensure(deployment, target, commit: record.rolloutCommit, count: needed)
      guard state.ready >= needed else { return waitingForReplicas(state, of: needed, deployment, record) }
      var label = "canary step \(record.rolloutStep + 1)/\(steps.count): \(step.weight)% of traffic on \(target)"
      if step.mirror > 0 {
        label =
          "canary step \(record.rolloutStep + 1)/\(steps.count): mirroring \(step.mirror)% of requests to \(target)"
        if record.rolloutStepStartedAt != nil, let agreement = recordAgreement(deployment, target) {
          label += String(format: " (agreement %.3f over %d answers)", agreement.ratio, agreement.compared)
        }
      }
      guard let started = record.rolloutStepStartedAt else {
        record.rolloutWeight = step.weight
        record.rolloutStepStartedAt = now
        record.rolloutProgressAt = now
        try store.saveDeployment(record)
        CrashPoint.reached("rollout.step")
        routing.publish()
        progress(Progress("  \(label)", ["deployment": record.name, "revision": "\(target)"]))
        continue
      }
      let skipped = record.rolloutPauseSkipped
      let pauseEnd = started.addingTimeInterval(step.pause.timeInterval)
      if !skipped, now < pauseEnd {
        // A mirror step looks again every few seconds, to keep its agreement current.
        let next = step.mirror > 0 ? min(pauseEnd, now.addingTimeInterval(mirrorRefresh)) : pauseEnd
        return .waiting(until: next, reason: "\(label), paused")
      }
      let analysis = deployment.spec.analysis.monitors
      if !skipped, let monitors, !analysis.isEmpty,
        let missing = monitors.missingData(monitors: analysis, version: target.modelVersion, since: started)
      {
        // A step shorter than a monitor needs to judge waits that long for its first value.
        let grace = max(pauseEnd, started).addingTimeInterval(monitors.judgingTime(analysis))
        guard now < grace else { throw missing }
        return .waiting(
          until: min(grace, now.addingTimeInterval(analysisPoll)), reason: "\(label), waiting for analysis data")
      }
      record.rolloutStep += 1
      record.rolloutStepStartedAt = nil
      record.rolloutPauseSkipped = false
      record.rolloutProgressAt = now
      try store.saveDeployment(record)
    }
    let state = try replicas.ensure(deployment, target, commit: record.rolloutCommit, count: count)
    return state.ready >= count ? .done("") : waitingForReplicas(state, of: count, deployment, record)
  }

  /// Blue-green and canary keep the stable revision whole while the new one comes up: a stable
  /// replica that exited or turned unhealthy meanwhile is replaced at the rollout's next pass.
  private func healStable(_ deployment: Deployment, _ active: Revision, _ record: DeploymentRecord) throws {
    let state = try replicas.ensure(deployment, active, commit: record.activeCommit, count: deployment.spec.replicas)
    if state.started > 0 {
      progress(
        Progress(
          "  \(state.started) replica(s) of \(active) replaced during the rollout",
          ["deployment": record.name, "revision": "\(active)"]))
    }
  }

  /// Records the router's agreement of `target` with the stable answers as the version's
  /// `agreement` metric (which gates can use), and returns it; nil before any pair was compared.
  private func recordAgreement(_ deployment: Deployment, _ target: Revision) -> (ratio: Double, compared: Int)? {
    guard let agreement = monitors?.mirrorAgreement(deployment: deployment.metadata.name, version: target.modelVersion)
    else { return nil }
    try? store.setVersionMetric(
      model: deployment.spec.model.model, version: target.modelVersion, name: "agreement", value: agreement.ratio)
    return agreement
  }

  /// Rolling: start up to `maxSurge` new replicas beyond the declared count, then stop old ones
  /// while at least `replicas - maxUnavailable` stay healthy; traffic follows the healthy replicas.
  private func rolling(
    _ deployment: Deployment, _ record: inout DeploymentRecord, maxSurge: Int, maxUnavailable: Int, now: Date
  ) throws -> StepResult {
    guard let target = record.rollout else { return .done("") }
    let name = deployment.metadata.name
    let count = deployment.spec.replicas
    while true {
      let all = try store.replicas(of: name)
      let mine = all.filter { $0.revision == target }
      let fresh = mine.filter { $0.health == .healthy }.count
      let old = all.filter { $0.revision != target }
      let oldHealthy = old.filter { $0.health == .healthy }
      let weight = fresh + oldHealthy.count == 0 ? 0 : 100 * fresh / (fresh + oldHealthy.count)
      if weight != record.rolloutWeight || fresh != record.rolloutStep {
        record.rolloutWeight = weight
        record.rolloutStep = fresh
        record.rolloutProgressAt = now
        try store.saveDeployment(record)
        routing.publish()
      }
      if fresh >= count && old.isEmpty { return .done("") }
      // Stop old replicas while enough stay healthy (the unhealthy ones first).
      let floor = count - maxUnavailable
      let removable = old.count - oldHealthy.count + max(0, fresh + oldHealthy.count - floor)
      if removable > 0, !old.isEmpty {
        let ordered = old.filter { $0.health != .healthy } + oldHealthy
        for replica in ordered.prefix(removable) { try replicas.stop(replica) }
        record.rolloutProgressAt = now
        continue
      }
      let room = count + maxSurge - (mine.count + old.count)
      let wanted = min(count, mine.count + max(0, room))
      let state = try replicas.ensure(deployment, target, commit: record.rolloutCommit, count: wanted)
      if state.started > 0 { progress("  rolling: \(fresh)/\(count) replicas on \(target)") }
      if state.starting > 0 {
        return waitingForReplicas(state, of: wanted, deployment, record)
      }
      guard state.ready > fresh else {
        throw RunError("rolling update cannot progress with maxSurge \(maxSurge) and maxUnavailable \(maxUnavailable)")
      }
    }
  }
}
