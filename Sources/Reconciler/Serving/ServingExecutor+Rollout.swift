import Drivers
import Foundation
import ModelOpsCore
import StateStore

/// A rollout that failed and was rolled back (the stable revision kept serving).
struct RolloutFailed: Error, CustomStringConvertible {
  var description: String
}

extension ServingExecutor {
  /// Rolls `deployment` out to `target` (the model version at `commit`) by its strategy, step by
  /// saved step: called again for the same target (after a restart), it resumes where it stopped.
  /// A step that cannot finish — a replica that never turns healthy, the progress deadline —
  /// rolls back: the stable revision keeps the traffic and the target is marked failed.
  func rollout(_ deployment: Deployment, to target: Revision, commit: String?) throws -> String {
    let name = deployment.metadata.name
    var record = try store.deploymentRecord(name) ?? DeploymentRecord(name: name)
    if let inFlight = record.rollout, inFlight != target {
      // Superseded by a newer desired revision: its replicas go, nothing is marked failed.
      for replica in try store.replicas(of: name) where replica.revision == inFlight { try stop(replica) }
      progress("  rollout to \(inFlight) superseded by \(target)")
      record.rollout = nil
    }
    guard try registry.verify(model: deployment.spec.model.model, version: target.modelVersion) else {
      throw RunError(
        "the artifact of \(deployment.spec.model.model) v\(target.modelVersion) no longer matches its recorded "
          + "digest: it is not served")
    }
    if record.rollout != target {
      record.rollout = target
      record.rolloutCommit = commit
      record.rolloutStep = 0
      record.rolloutWeight = 0
      record.rolloutProgressAt = Date()
      record.desiredReplicas = deployment.spec.replicas
      try store.saveDeployment(record)
    } else {
      progress("  resuming at step \(record.rolloutStep), \(record.rolloutWeight)% of traffic on \(target)")
    }
    publishRoutes()
    do {
      guard try advance(deployment, &record) else {
        let preview = deployment.spec.strategy.previewListen.map { " on \($0)" } ?? ""
        return "\(target) is up on the preview listener\(preview); switch with `agent promote \(name)`"
      }
      try finish(deployment, &record)
      return "\(target) serving \(deployment.spec.replicas) replica(s) on \(deployment.spec.listen)"
    } catch is Interrupted {
      return "interrupted at step \(record.rolloutStep) (\(record.rolloutWeight)%): resumes when the agent starts again"
    } catch {
      try abort(&record, reason: "\(error)")
      monitors?.forget(deployment: name, version: target.modelVersion)
      if let failure = error as? AnalysisFailed, failure.rejects {
        try store.rejectVersion(
          model: deployment.spec.model.model, version: failure.version, reason: failure.description)
      }
      // A requested rollback of a rollout in flight is done once the rollout is rolled back.
      rollbackRequests.withLock { requests in
        if case .some(.none) = requests[name] { requests.removeValue(forKey: name) }
      }
      throw RolloutFailed(description: "rollout to \(target) failed and was rolled back: \(error)")
    }
  }

  /// Runs the strategy's steps from the saved one up to the point where the target takes all
  /// traffic; false when it waits for a person (blue-green without `autoPromote`).
  private func advance(_ deployment: Deployment, _ record: inout DeploymentRecord) throws -> Bool {
    guard let target = record.rollout else { return true }
    let count = deployment.spec.replicas
    guard record.active != nil else {
      // A first deployment has nothing to shift traffic from.
      try ensure(deployment, target, commit: record.rolloutCommit, count: count, deadline: deadline(deployment, record))
      return true
    }
    switch deployment.spec.strategy {
    case .recreate:
      for replica in try store.replicas(of: deployment.metadata.name) where replica.revision != target {
        try stop(replica)
      }
      publishRoutes()
      try ensure(deployment, target, commit: record.rolloutCommit, count: count, deadline: deadline(deployment, record))
    case .rolling(let surge, let unavailable):
      try rolling(deployment, &record, maxSurge: surge, maxUnavailable: unavailable)
    case .blueGreen(_, let autoPromote):
      // The new revision comes up beside the old one, reachable on the preview listener only.
      try ensure(deployment, target, commit: record.rolloutCommit, count: count, deadline: deadline(deployment, record))
      if !autoPromote, record.rolloutStep < 2 {
        // Step 1: previewing, until `agent promote` sets step 2.
        record.rolloutStep = 1
        record.rolloutProgressAt = Date()
        try store.saveDeployment(record)
        publishRoutes()
        return false
      }
    case .canary(let steps):
      while record.rolloutStep < steps.count {
        let step = steps[record.rolloutStep]
        let replicas = max(1, Int((Double(count) * Double(step.weight) / 100).rounded(.up)))
        try ensure(
          deployment, target, commit: record.rolloutCommit, count: replicas, deadline: deadline(deployment, record))
        record.rolloutWeight = step.weight
        record.rolloutProgressAt = Date()
        try store.saveDeployment(record)
        publishRoutes()
        progress("  canary step \(record.rolloutStep + 1)/\(steps.count): \(step.weight)% of traffic on \(target)")
        try pause(step.pause.timeInterval, deployment.metadata.name, analysing: target.modelVersion)
        record.rolloutStep += 1
        record.rolloutProgressAt = Date()
        try store.saveDeployment(record)
      }
      try ensure(deployment, target, commit: record.rolloutCommit, count: count, deadline: deadline(deployment, record))
    }
    return true
  }

  /// Rolling: start up to `maxSurge` new replicas beyond the declared count, then stop old ones
  /// while at least `replicas - maxUnavailable` stay healthy; traffic follows the healthy replicas.
  private func rolling(
    _ deployment: Deployment, _ record: inout DeploymentRecord, maxSurge: Int, maxUnavailable: Int
  ) throws {
    guard let target = record.rollout else { return }
    let name = deployment.metadata.name
    let count = deployment.spec.replicas
    while true {
      try checkpoint(name, analysing: target.modelVersion)
      let all = try store.replicas(of: name)
      let fresh = all.filter { $0.revision == target && $0.health == .healthy }.count
      let old = all.filter { $0.revision != target }
      let oldHealthy = old.filter { $0.health == .healthy }
      record.rolloutWeight = fresh + oldHealthy.count == 0 ? 0 : 100 * fresh / (fresh + oldHealthy.count)
      record.rolloutStep = fresh
      try store.saveDeployment(record)
      publishRoutes()
      if fresh >= count && old.isEmpty { return }
      // Stop old replicas while enough stay healthy (the unhealthy ones first).
      let floor = count - maxUnavailable
      let removable = old.count - oldHealthy.count + max(0, fresh + oldHealthy.count - floor)
      if removable > 0, !old.isEmpty {
        let ordered = old.filter { $0.health != .healthy } + oldHealthy
        for replica in ordered.prefix(removable) { try stop(replica) }
        record.rolloutProgressAt = Date()
        continue
      }
      let room = count + maxSurge - (fresh + old.count)
      guard room > 0, fresh < count else {
        throw RunError("rolling update cannot progress with maxSurge \(maxSurge) and maxUnavailable \(maxUnavailable)")
      }
      progress("  rolling: \(fresh)/\(count) replicas on \(target)")
      try ensure(
        deployment, target, commit: record.rolloutCommit, count: min(count, fresh + room),
        deadline: deadline(deployment, record))
      record.rolloutProgressAt = Date()
    }
  }

  /// All traffic to the target, which becomes the active revision; the old replicas stop, except
  /// the previous revision's when `keepPrevious`: those stay, out of traffic, for the deployment's
  /// `scaleDownDelay`, so a rollback in that time is a switch of routes.
  private func finish(_ deployment: Deployment, _ record: inout DeploymentRecord, keepPrevious: Bool = true) throws {
    guard let target = record.rollout else { return }
    record.rolloutWeight = 100
    try store.saveDeployment(record)
    publishRoutes()
    if record.active != target {
      record.previous = record.active
      record.previousCommit = record.activeCommit
    }
    record.active = target
    record.activeCommit = record.rolloutCommit
    record.rollout = nil
    record.rolloutCommit = nil
    record.rolloutStep = 0
    record.rolloutWeight = 0
    record.rolloutProgressAt = nil
    record.desiredReplicas = deployment.spec.replicas
    let delay = deployment.spec.rollback.scaleDownDelay.timeInterval
    let kept = keepPrevious && delay > 0 ? record.previous : nil
    record.scaleDownAt = kept == nil ? nil : Date().addingTimeInterval(delay)
    try store.saveDeployment(record)
    publishRoutes()
    for replica in try store.replicas(of: deployment.metadata.name)
    where replica.revision != target && replica.revision != kept {
      try stop(replica)
    }
  }

  /// Stops the replicas kept for a fast rollback once their deployment's scale-down delay is over
  /// (called by the supervisor between cycles); returns how many stopped.
  @discardableResult
  public func scaleDown(now: Date = Date()) -> Int {
    var stopped = 0
    for var record in (try? store.deploymentRecords()) ?? [] {
      guard let due = record.scaleDownAt, due <= now, record.rollout == nil else { continue }
      for replica in (try? store.replicas(of: record.name)) ?? [] where replica.revision != record.active {
        do {
          try stop(replica)
          stopped += 1
        } catch {
          progress("could not stop replica \(replica.id) of \(record.name): \(error)")
        }
      }
      record.scaleDownAt = nil
      try? store.saveDeployment(record)
    }
    if stopped > 0 { progress("scaled down \(stopped) replica(s) of previous revisions") }
    return stopped
  }

  /// Gives all traffic back to the stable revision, stops the target's replicas and marks it failed.
  func abort(_ record: inout DeploymentRecord, reason: String) throws {
    guard let target = record.rollout else { return }
    record.rollout = nil
    record.rolloutCommit = nil
    record.rolloutStep = 0
    record.rolloutWeight = 0
    record.rolloutProgressAt = nil
    try store.saveDeployment(record)
    publishRoutes()
    for replica in try store.replicas(of: record.name) where replica.revision == target { try stop(replica) }
    try store.markFailed(deployment: record.name, revision: target, reason: reason, at: Date())
    try store.appendEvent(
      kind: "rollback", resource: ResourceID(.deployment, record.name), commit: nil,
      cause: "rollout to \(target) failed", message: reason, at: Date())
    progress("  rolled back to \(record.active?.description ?? "nothing"): \(reason)")
  }

  /// Rolls back now: a rollout in flight is aborted; otherwise the previous revision (or
  /// `version` of the model with the active template) replaces the active one, which is marked
  /// failed so it is not rolled out again until the desired revision changes or `agent retry`.
  func rollback(_ deployment: Deployment, toVersion version: Int?, reason: String, reject: Bool = false) throws
    -> String
  {
    let name = deployment.metadata.name
    guard var record = try store.deploymentRecord(name), let active = record.active else {
      throw RunError("deployment \(name) serves nothing: there is nothing to roll back")
    }
    if let target = record.rollout, version == nil {
      try abort(&record, reason: reason)
      monitors?.forget(deployment: name, version: target.modelVersion)
      if reject {
        try store.rejectVersion(model: deployment.spec.model.model, version: target.modelVersion, reason: reason)
      }
      return "rollout to \(target) aborted; \(active) keeps serving"
    }
    let destination: Revision
    let commit: String?
    if let version {
      destination = Revision(modelVersion: version, template: active.template)
      commit = record.activeCommit
    } else if let previous = record.previous {
      destination = previous
      commit = record.previousCommit
    } else {
      throw RunError("deployment \(name) has no previous revision; give --to-version N")
    }
    guard destination != active else { throw RunError("\(destination) is already serving") }
    if record.rollout != nil { try abort(&record, reason: reason) }
    try ensure(deployment, destination, commit: commit, count: deployment.spec.replicas)
    record.rollout = destination
    record.rolloutCommit = commit
    try finish(deployment, &record, keepPrevious: false)
    try store.markFailed(deployment: name, revision: active, reason: reason, at: Date())
    monitors?.forget(deployment: name, version: active.modelVersion)
    if reject {
      try store.rejectVersion(model: deployment.spec.model.model, version: active.modelVersion, reason: reason)
    }
    try store.appendEvent(
      kind: "rollback", resource: ResourceID(.deployment, name), commit: commit, cause: reason,
      message: "\(active) → \(destination)", at: Date())
    return "\(active) → \(destination); \(active) is marked failed until the desired revision changes or `agent retry`"
  }

  /// When the rollout fails for want of progress: `progressDeadline` after its last progress.
  private func deadline(_ deployment: Deployment, _ record: DeploymentRecord) -> Date {
    (record.rolloutProgressAt ?? Date()).addingTimeInterval(deployment.spec.progressDeadline.timeInterval)
  }

  /// Holds a canary step for its pause, waking every 200 ms to notice a shutdown, a rollback or a
  /// failed analysis; at its end every analysis monitor must have judged the version at least once.
  private func pause(_ seconds: TimeInterval, _ name: String, analysing version: Int) throws {
    let start = Date()
    let until = start.addingTimeInterval(seconds)
    while Date() < until {
      try checkpoint(name, analysing: version)
      Thread.sleep(forTimeInterval: min(0.2, max(0, until.timeIntervalSinceNow)))
    }
    try checkpoint(name, analysing: version)
    let analysis = declared.withLock { $0[name]?.spec.analysis.monitors } ?? []
    guard let monitors, !analysis.isEmpty else { return }
    // A step shorter than a monitor needs to judge waits that long for its first value.
    let grace = Date().addingTimeInterval(monitors.judgingTime(analysis))
    while monitors.missingData(monitors: analysis, version: version, since: start) != nil, Date() < grace {
      try checkpoint(name, analysing: version)
      Thread.sleep(forTimeInterval: 0.2)
    }
    if let failure = monitors.missingData(monitors: analysis, version: version, since: start) { throw failure }
  }
}
