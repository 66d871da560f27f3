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
      if let refusal = rollbackRefusal(deployment, toVersion: version) { throw Stalled(refusal.description) }
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

  /// Why a rollback of `deployment` cannot be carried out, checked when it is asked for (so that
  /// `agent rollback` and the API refuse it at once); nil when it can.
  public func rollbackRefusal(_ deployment: Deployment, toVersion version: Int?) -> RollbackRefusal? {
    let name = deployment.metadata.name
    let model = deployment.spec.model.model
    // The version asked for is judged first: one that cannot be served is refused as such,
    // whatever the deployment is doing.
    if let version {
      let versions = (try? store.versions(model: model)) ?? []
      guard let found = versions.first(where: { $0.version == version }) else {
        let known = versions.map(\.version)
        let range = known.isEmpty ? "none is registered" : "registered: v\(known.min() ?? 0)–v\(known.max() ?? 0)"
        return RollbackRefusal(.notFound, "model \(model) has no version \(version) (\(range))")
      }
      if let reason = found.rejectedReason {
        return RollbackRefusal(
          .conflict, "version \(version) of \(model) was rejected (\(reason)): it is not served again")
      }
      if found.collectedAt != nil {
        return RollbackRefusal(.conflict, "the artifact of \(model) v\(version) was garbage-collected (retain)")
      }
    }
    let record = try? store.deploymentRecord(name)
    guard let record, let active = record.active else {
      // A first rollout answers as soon as its replicas are healthy, a moment before it is
      // recorded as active: there is nothing before it either way.
      if let first = record?.rollout {
        if version == first.modelVersion {
          return RollbackRefusal(.conflict, "deployment \(name) already serves v\(first.modelVersion)")
        }
        return RollbackRefusal(
          .conflict,
          "deployment \(name) has no previous revision to return to: its first revision \(first) is rolling out")
      }
      return RollbackRefusal(.conflict, "deployment \(name) serves nothing: there is nothing to roll back")
    }
    guard let version else {
      if record.rollout == nil, record.previous == nil {
        return RollbackRefusal(
          .conflict, "deployment \(name) has no previous revision to return to; give --to-version N")
      }
      return nil
    }
    if version == active.modelVersion, record.rollout == nil {
      return RollbackRefusal(.conflict, "deployment \(name) already serves v\(version)")
    }
    return nil
  }

  /// Whether a deployment's scale-down delay is over (the supervisor then wakes the loop).
  public func scaleDownDue(now: Date = Date()) -> Bool {
    ((try? store.deploymentRecords()) ?? []).contains { record in
      record.rollout == nil && record.scaleDownAt.map { $0 <= now } == true
    }
  }

  /// Stops the replicas kept for a fast rollback once their deployment's scale-down delay is over;
  /// returns how many stopped. Only the reconcile pass calls it: it saves the deployment's record,
  /// which a rollback in the same moment also writes.
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

/// Why a rollback asked for cannot be carried out: the version does not exist (`notFound`), or
/// the deployment's state does not allow it (`conflict`).
public struct RollbackRefusal: Error, CustomStringConvertible, Sendable {
  public enum Kind: Sendable { case notFound, conflict }
  public var kind: Kind
  public var description: String

  init(_ kind: Kind, _ description: String) {
    self.kind = kind
    self.description = description
  }
}
