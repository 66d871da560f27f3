import Drivers
import Foundation
import ModelOpsCore
import StateStore
import Synchronization

/// A rollout that failed and was rolled back (the stable revision kept serving).
struct RolloutFailed: Error, CustomStringConvertible {
  var description: String
}

/// Carries rollouts as saved state machines: each call does what is due for a deployment's
/// rollout now (start replicas, move weight, end a pause, finish) and returns what it waits for;
/// only the deployment's record carries state from one call to the next, so a restart resumes at
/// the saved step. Strategies are in `+Strategies`.
final class RolloutMachine: Sendable {
  let store: StateStore
  let registry: any ModelRegistry
  let replicas: ReplicaLifecycle
  let routing: RoutingTable
  /// The monitors: a rollout's analysis reads them at each step.
  let monitors: MonitorRunner?
  let progress: ProgressSink
  /// Deployments whose rollout in flight this agent has carried on (a restart resumes the rest).
  private let followed = Mutex<Set<String>>([])
  /// How often the loop looks at a rollout waiting for data its analysis needs.
  let analysisPoll: TimeInterval = 0.25
  /// How often a mirror step's agreement is read from the router and recorded.
  let mirrorRefresh: TimeInterval = 5

  init(
    store: StateStore, registry: any ModelRegistry, replicas: ReplicaLifecycle, routing: RoutingTable,
    monitors: MonitorRunner?, progress: @escaping ProgressSink
  ) {
    self.store = store
    self.registry = registry
    self.replicas = replicas
    self.routing = routing
    self.monitors = monitors
    self.progress = progress
  }

  /// Advances the rollout of `deployment` to `target` (the model version at `commit`) as far as
  /// it can go now, saves where it is, and returns: `.done` once the target takes all traffic,
  /// `.waiting` while replicas start, a canary step pauses or a preview waits for `agent promote`.
  /// Called again (the next cycle, or after a restart) it resumes at the saved step: no step is
  /// repeated and no pause restarts. A step that cannot finish — a replica that never turns
  /// healthy, a failed analysis, the progress deadline, a requested rollback — rolls back: the
  /// stable revision keeps the traffic and the target is marked failed.
  func rollout(_ deployment: Deployment, to target: Revision, commit: String?, now: Date = Date()) throws
    -> StepResult
  {
    let name = deployment.metadata.name
    var record = try store.deploymentRecord(name) ?? DeploymentRecord(name: name)
    if let inFlight = record.rollout, inFlight != target {
      // Superseded by a newer desired revision: its replicas go, nothing is marked failed.
      for replica in try store.replicas(of: name) where replica.revision == inFlight { try replicas.stop(replica) }
      progress(
        Progress("  rollout to \(inFlight) superseded by \(target)", ["deployment": name, "revision": "\(target)"]))
      record.rollout = nil
    }
    if record.rollout != target {
      guard try registry.verify(model: deployment.spec.model.model, version: target.modelVersion) else {
        throw Stalled(
          "the artifact of \(deployment.spec.model.model) v\(target.modelVersion) no longer matches its recorded "
            + "digest: it is not served")
      }
      record.clearRollout()
      record.rollout = target
      record.rolloutCommit = commit
      record.rolloutProgressAt = now
      record.desiredReplicas = deployment.spec.replicas
      try store.saveDeployment(record)
      routing.publish()
      followed.withLock { _ = $0.insert(name) }
    } else if followed.withLock({ $0.insert(name).inserted }) {
      // A rollout this agent did not start (it was restarted): carried on from its saved step.
      progress(
        Progress(
          "  resuming at step \(record.rolloutStep), \(record.rolloutWeight)% of traffic on \(target)",
          ["deployment": name, "revision": "\(target)"]))
    }
    do {
      try checkpoint(name, analysing: target.modelVersion)
      let step = try advance(deployment, &record, now: now)
      guard case .done = step else {
        try failIfStuck(deployment, record, now: now)
        return step
      }
      try finish(deployment, &record, now: now)
      return .done("\(target) serving \(deployment.spec.replicas) replica(s) on \(deployment.spec.listen)")
    } catch let stalled as Stalled {
      throw stalled
    } catch let unreachable as Unreachable {
      throw unreachable
    } catch {
      try abort(&record, reason: "\(error)")
      monitors?.forget(deployment: name, version: target.modelVersion)
      if let failure = error as? AnalysisFailed, failure.rejects {
        try store.rejectVersion(
          model: deployment.spec.model.model, version: failure.version, reason: failure.description)
      }
      // A requested rollback of a rollout in flight is done once the rollout is rolled back.
      if let requested = try store.rollbackRequests()[name], requested == nil {
        try store.clearRollbackRequest(name)
      }
      throw RolloutFailed(description: "rollout to \(target) failed and was rolled back: \(error)")
    }
  }

  /// Throws when a rollback of `name` was asked for, or one of the deployment's analysis monitors
  /// fires on the version being rolled out.
  func checkpoint(_ name: String, analysing version: Int) throws {
    if try store.rollbackRequests()[name] != nil {
      throw RunError("a rollback was requested (agent rollback)")
    }
    guard let monitors else { return }
    let analysis = routing.deployment(named: name)?.spec.analysis.monitors ?? []
    if let failure = monitors.analysisFailure(monitors: analysis, version: version) { throw failure }
  }

  /// The rollout made no progress for `progressDeadline`: it fails (a pause, or a preview waiting
  /// for a person, is not a lack of progress).
  private func failIfStuck(_ deployment: Deployment, _ record: DeploymentRecord, now: Date) throws {
    guard record.rolloutStepStartedAt == nil, !(record.rolloutStep == 1 && isPreview(deployment)) else { return }
    let deadline = progressDeadline(deployment, record)
    guard now >= deadline else { return }
    let starting = try store.replicas(of: deployment.metadata.name).filter {
      $0.revision == record.rollout && $0.health == .starting
    }
    let which = starting.first.map { ": replica \($0.id) is still starting" } ?? ""
    throw RunError(
      "the rollout made no progress within its progressDeadline (\(deployment.spec.progressDeadline))\(which)")
  }

  func isPreview(_ deployment: Deployment) -> Bool {
    if case .blueGreen(_, false) = deployment.spec.strategy { return true }
    return false
  }

  /// When the rollout fails for want of progress: `progressDeadline` after its last progress.
  func progressDeadline(_ deployment: Deployment, _ record: DeploymentRecord) -> Date {
    (record.rolloutProgressAt ?? Date()).addingTimeInterval(deployment.spec.progressDeadline.timeInterval)
  }

  /// Waiting for replicas of the target to start: until the progress deadline, or a supervisor's report.
  func waitingForReplicas(_ state: ReplicaCount, of count: Int, _ deployment: Deployment, _ record: DeploymentRecord)
    -> StepResult
  {
    .waiting(
      until: progressDeadline(deployment, record),
      reason: "\(state.ready)/\(count) replica(s) of \(record.rollout?.description ?? "-") healthy, "
        + "\(state.starting) starting")
  }

  /// All traffic to the target, which becomes the active revision; the old replicas stop, except
  /// the previous revision's when `keepPrevious`: those stay, out of traffic, for the deployment's
  /// `scaleDownDelay`, so a rollback in that time is a switch of routes.
  func finish(_ deployment: Deployment, _ record: inout DeploymentRecord, keepPrevious: Bool = true, now: Date)
    throws
  {
    guard let target = record.rollout else { return }
    if record.active != target {
      record.previous = record.active
      record.previousCommit = record.activeCommit
    }
    record.active = target
    record.activeCommit = record.rolloutCommit
    record.clearRollout()
    record.desiredReplicas = deployment.spec.replicas
    let delay = deployment.spec.rollback.scaleDownDelay.timeInterval
    let kept = keepPrevious && delay > 0 ? record.previous : nil
    record.scaleDownAt = kept == nil ? nil : now.addingTimeInterval(delay)
    try store.saveDeployment(record)
    CrashPoint.reached("rollout.finish")
    routing.publish()
    for replica in try store.replicas(of: deployment.metadata.name)
    where replica.revision != target && replica.revision != kept {
      try replicas.stop(replica)
    }
  }

  /// Gives all traffic back to the stable revision, stops the target's replicas and marks it failed.
  func abort(_ record: inout DeploymentRecord, reason: String) throws {
    guard let target = record.rollout else { return }
    record.clearRollout()
    try store.saveDeployment(record)
    routing.publish()
    for replica in try store.replicas(of: record.name) where replica.revision == target { try replicas.stop(replica) }
    try store.markFailed(deployment: record.name, revision: target, reason: reason, at: Date())
    try store.appendEvent(
      kind: "rollback", resource: ResourceID(.deployment, record.name), commit: nil,
      cause: "rollout to \(target) failed", message: reason, at: Date())
    progress(
      Progress(
        "  rolled back to \(record.active?.description ?? "nothing"): \(reason)", level: .warning,
        ["deployment": record.name, "revision": record.active?.description ?? "-"]))
  }
}

extension DeploymentRecord {
  /// No rollout in flight: its target, step, weight and times are forgotten.
  mutating func clearRollout() {
    rollout = nil
    rolloutCommit = nil
    rolloutStep = 0
    rolloutWeight = 0
    rolloutProgressAt = nil
    rolloutStepStartedAt = nil
    rolloutPauseSkipped = false
  }
}
