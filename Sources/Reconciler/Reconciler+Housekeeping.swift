import Drivers
import Foundation
import ModelOpsCore
import StateStore

extension Reconciler {
  /// `retain`: removes the artifacts of old versions that never held an alias and serve nothing
  /// (no replica, not a deployment's active, previous or rolling-out revision).
  func collectGarbage(_ desired: DesiredState) throws {
    let deployments = desired.manifests.deployments
    var inUse: [String: Set<Int>] = [:]
    var anyModel: Set<Int> = []
    func use(_ deployment: String, _ version: Int?) {
      guard let version else { return }
      if let model = deployments[deployment]?.spec.model.model {
        inUse[model, default: []].insert(version)
      } else {
        anyModel.insert(version)  // a deployment no longer declared: keep its versions of any model
      }
    }
    for record in try store.deploymentRecords() {
      for revision in [record.active, record.previous, record.rollout] { use(record.name, revision?.modelVersion) }
    }
    for replica in try store.replicas() { use(replica.deployment, replica.revision.modelVersion) }
    for (name, model) in desired.manifests.models.sorted(by: { $0.key < $1.key }) {
      let collected = try registry.collectGarbage(
        model: name, retain: model.spec.retain, inUse: inUse[name, default: []].union(anyModel), at: Date())
      guard !collected.isEmpty else { continue }
      let list = collected.map { "v\($0)" }.joined(separator: ", ")
      progress("✓ Model/\(name) garbage-collected the artifacts of \(list)")
      try store.appendEvent(
        kind: "gc", resource: ResourceID(.model, name), commit: desired.commit,
        cause: "spec.retain: \(model.spec.retain)", message: "artifacts of \(list) removed (never aliased, not served)",
        at: Date())
    }
  }

  /// Measures each host-path input now, so a changed file or folder retrains (`onInputChange`).
  /// An input that cannot be read is left unmeasured; the run that needs it reports why.
  func measureHostInputs(_ desired: DesiredState) throws {
    for (name, pipeline) in desired.manifests.pipelines {
      for input in pipeline.spec.inputs {
        guard case .hostPath(let path) = input.source, let digest = try? runner.hostInputs.digest(path) else {
          continue
        }
        try store.recordInputDigest(pipeline: name, input: input.name, digest: digest, at: Date())
      }
    }
  }

  /// After a rollback: with write-back on, a branch pins the version now serving, and an event
  /// names it. The commit and its push run on a thread of their own (a remote that stalls must
  /// not hold the pass); returns what to add to the action's detail.
  func afterRollback(_ action: Action, desired: DesiredState, error: String?) -> String {
    let name = action.resource.name
    guard let writeBack, let record = try? store.deploymentRecord(name), let active = record.active,
      let deployment = desired.manifests.deployments[name], let location = desired.manifests.locations[action.resource]
    else { return "" }
    let reason = error ?? action.reason
    let (store, progress, commit, version) = (store, progress, desired.commit, active.modelVersion)
    Thread {
      do {
        let branch = try writeBack(deployment, location, version, reason)
        try? store.appendEvent(
          kind: "write-back", resource: action.resource, commit: commit, cause: reason,
          message: "pushed branch \(branch) pinning v\(version): open a pull request to make git match", at: Date())
        progress("✓ \(action.resource) write-back: branch \(branch) pins v\(version)")
      } catch {
        try? store.appendEvent(
          kind: "write-back-failed", resource: action.resource, commit: commit, cause: reason, message: "\(error)",
          at: Date())
        progress(Progress("✗ \(action.resource) write-back: \(error)", level: .warning))
      }
    }.start()
    return "; a branch pinning v\(version) is being written back"
  }

  /// Sends what the `notify` targets asked for: rollbacks, failed runs, failed actions, promotions.
  func notify(_ action: Action, desired: DesiredState, error: String?, rolledBack: Bool) {
    guard let notifier else { return }
    let event: String
    var from = action.from
    var to = action.to
    if rolledBack {
      event = "rollback"
      if action.verb == .rollout { (from, to) = (action.to, action.from) }
    } else if error != nil {
      event = action.verb == .train ? "run-failed" : "apply-failed"
    } else if action.verb == .promote {
      event = "promoted"
    } else {
      return
    }
    notifier.send(
      Notification(
        event: event, resource: action.resource.description, from: from, to: to,
        reason: error.map { "\(action.reason): \($0)" } ?? action.reason, commit: desired.commit))
  }
}
