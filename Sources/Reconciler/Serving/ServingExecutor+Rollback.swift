import Drivers
import Foundation
import ModelOpsCore
import StateStore

extension ServingExecutor {
  /// Rolls back: a rollout in flight is aborted at once; otherwise the previous revision (or
  /// `version` of the model with the active template) replaces the active one — at once when its
  /// replicas are still up (kept for `scaleDownDelay`), else once the replicas started for it are
  /// healthy (`.waiting` until then; the bad revision serves meanwhile, as nothing else can). The
  /// revision rolled back from is marked failed so it is not rolled out again until the desired
  /// revision changes or `agent retry`; `reject` (a monitor's rollback) also rejects its version,
  /// unless both revisions serve the same version (then only the template was at fault).
  func rollback(_ deployment: Deployment, toVersion version: Int?, reason: String, reject: Bool = false) throws
    -> StepResult
  {
    let name = deployment.metadata.name
    guard var record = try store.deploymentRecord(name), let active = record.active else {
      throw Stalled("deployment \(name) serves nothing: there is nothing to roll back")
    }
    if let target = record.rollout, version == nil {
      try rollouts.abort(&record, reason: reason)
      monitors?.forget(deployment: name, version: target.modelVersion)
      // A revision that differs only in its template says nothing about the model version.
      if reject, target.modelVersion != active.modelVersion {
        try store.rejectVersion(model: deployment.spec.model.model, version: target.modelVersion, reason: reason)
      }
      return .done("rollout to \(target) aborted; \(active) keeps serving")
    }
    let destination: Revision
    let commit: String?
    if let version {
      guard (try? registry.verify(model: deployment.spec.model.model, version: version)) == true else {
        throw Stalled(
          "version \(version) of \(deployment.spec.model.model) is not in the registry or its artifact is gone")
      }
      destination = Revision(modelVersion: version, template: active.template)
      commit = record.activeCommit
    } else if let previous = record.previous {
      destination = previous
      commit = record.previousCommit
    } else {
      throw Stalled("deployment \(name) has no previous revision; give --to-version N")
    }
    guard destination != active else { throw Stalled("\(destination) is already serving") }
    if record.rollout != nil { try rollouts.abort(&record, reason: reason) }
    let state = try replicas.ensure(deployment, destination, commit: commit, count: deployment.spec.replicas)
    guard state.ready >= deployment.spec.replicas else {
      return .waiting(
        until: Date().addingTimeInterval(deployment.spec.progressDeadline.timeInterval),
        reason: "rolling back to \(destination): \(state.ready)/\(deployment.spec.replicas) replica(s) healthy")
    }
    record.rollout = destination
    record.rolloutCommit = commit
    try rollouts.finish(deployment, &record, keepPrevious: false, now: Date())
    try store.markFailed(deployment: name, revision: active, reason: reason, at: Date())
    monitors?.forget(deployment: name, version: active.modelVersion)
    if reject, active.modelVersion != destination.modelVersion {
      try store.rejectVersion(model: deployment.spec.model.model, version: active.modelVersion, reason: reason)
    }
    try store.appendEvent(
      kind: "rollback", resource: ResourceID(.deployment, name), commit: commit, cause: reason,
      message: "\(active) → \(destination)", at: Date())
    return .done(
      "\(active) → \(destination); \(active) is marked failed until the desired revision changes or `agent retry`")
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
          try replicas.stop(replica)
          stopped += 1
        } catch {
          progress(
            Progress(
              "could not stop replica \(replica.id) of \(record.name): \(error)", level: .warning,
              ["deployment": record.name, "replica": replica.id]))
        }
      }
      record.scaleDownAt = nil
      try? store.saveDeployment(record)
    }
    if stopped > 0 { progress("scaled down \(stopped) replica(s) of previous revisions") }
    return stopped
  }
}
