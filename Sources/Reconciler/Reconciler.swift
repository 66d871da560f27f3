import Drivers
import Foundation
import ModelOpsCore
import StateStore

/// What one `apply` did.
public struct ApplyReport: Sendable {
  public struct Executed: Sendable {
    public var action: Action
    /// nil: it succeeded.
    public var error: String?
    public var detail: String
  }
  public var executed: [Executed] = []
  /// Actions this agent cannot carry out (serving actions when it has no serving executor).
  public var notReconciled: [Action] = []
  /// Actions held on purpose, with their reasons.
  public var held: [Action] = []

  public var failed: Bool { executed.contains { $0.error != nil } }
}

/// Writes a branch pinning `version` for a deployment declared at a location; returns its name.
public typealias WriteBackHook =
  @Sendable (_ deployment: Deployment, _ declaredAt: SourceLocation, _ version: Int, _ reason: String) throws -> String

/// Applies desired state in rounds — observe, plan, carry out the actions whose dependencies are
/// done, observe again — so every decision is taken on what is true now (level-triggered). A
/// policy alias, for one, is evaluated on the metrics of the version the previous round registered.
public final class Reconciler: Sendable {
  public let store: StateStore
  public let registry: any ModelRegistry
  public let runner: TrainingRunner
  /// Rollouts, scaling, self-heal, rollbacks; nil: serving actions are reported, not carried out.
  public let serving: ServingExecutor?
  /// Where progress lines go (stderr for `agent apply`).
  public let progress: @Sendable (String) -> Void
  /// The `notify` targets of the agent config (rollback, run-failed, apply-failed, promoted).
  public let notifier: Notifier?
  /// Pushes a `modelops/rollback/<deployment>` branch after a rollback (`writeBack: true`).
  public let writeBack: WriteBackHook?

  public init(
    store: StateStore, registry: any ModelRegistry, runner: TrainingRunner, serving: ServingExecutor? = nil,
    notifier: Notifier? = nil,
    writeBack: WriteBackHook? = nil,
    progress: @escaping @Sendable (String) -> Void = { _ in }
  ) {
    self.store = store
    self.registry = registry
    self.runner = runner
    self.serving = serving
    self.notifier = notifier
    self.writeBack = writeBack
    self.progress = progress
  }

  /// Verbs this reconciler carries out; the rest are reported, never pretended.
  func isSupported(_ action: Action) -> Bool {
    switch action.verb {
    case .train, .register, .promote, .demote: return true
    case .delete: return action.resource.kind != .deployment || serving != nil
    case .rollout, .scale, .replace, .rollback: return serving != nil
    case .hold: return false
    }
  }

  /// One reconcile of `desired`: returns when nothing more can be done now, or an action failed.
  public func apply(_ desired: DesiredState, options: PlanOptions = PlanOptions(), maxRounds: Int = 10) throws
    -> ApplyReport
  {
    // An agent that stopped mid-action left intents and runs open: they are not running now.
    try store.abandonUnfinishedIntents(at: Date())
    try store.failInterruptedRuns(at: Date())
    try measureHostInputs(desired)
    if let serving {
      // Adopt what runs: dead replicas are marked exited, live ones probed, routes published.
      serving.declare(desired.manifests.deployments)
      serving.monitors?.declare(desired.manifests.monitors, deployments: desired.manifests.deployments)
      serving.probe(all: true)
    }
    var report = ApplyReport()
    for (name, version) in serving?.takeRollbackRequests().sorted(by: { $0.key < $1.key }) ?? [] {
      let outcome = try rollback(name, toVersion: version, desired: desired)
      report.executed.append(outcome)
      if outcome.error != nil { return report }
    }
    var attempted: Set<String> = []
    for _ in 0..<maxRounds {
      let plan = Planner.plan(desired: desired, observed: try store.observe(), now: Date(), options: options)
      let inPlan = Set(plan.actions.map(\.id))
      let ready = plan.actions.filter { action in
        action.verb != .hold && !attempted.contains(action.id) && action.dependsOn.allSatisfy { !inPlan.contains($0) }
      }
      report.held = plan.actions.filter { $0.verb == .hold }
      report.notReconciled = plan.actions.filter { $0.verb != .hold && !isSupported($0) }
      let runnable = ready.filter(isSupported)
      if runnable.isEmpty { break }
      for action in runnable {
        attempted.insert(action.id)
        let outcome = try execute(action, desired: desired)
        report.executed.append(outcome)
        if let error = outcome.error {
          progress("✗ \(action.resource) \(action.headline): \(error)")
          return report
        }
        progress("✓ \(action.resource) \(action.headline): \(outcome.detail)")
      }
    }
    try store.recordApplied(commit: desired.commit, resources: Set(desired.manifests.locations.keys), at: Date())
    try collectGarbage(desired)
    try serving?.pruneCheckouts()
    return report
  }

  /// `retain`: removes the artifacts of old versions that never held an alias and serve nothing
  /// (no replica, not a deployment's active, previous or rolling-out revision).
  private func collectGarbage(_ desired: DesiredState) throws {
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

  /// Rolls a deployment back now (`agent rollback`), journaled like any action: to its previous
  /// revision, or to `version` of its model.
  public func rollback(_ name: String, toVersion version: Int?, desired: DesiredState) throws -> ApplyReport.Executed {
    var action = Action(
      .rollback, ResourceID(.deployment, name), reason: "requested by agent rollback",
      to: version.map { "v\($0)" })
    action.version = version
    let outcome = try execute(action, desired: desired)
    progress((outcome.error == nil ? "✓ " : "✗ ") + "\(action.resource) rollback: \(outcome.error ?? outcome.detail)")
    return outcome
  }

  /// Measures each host-path input now, so a changed file or folder retrains (`onInputChange`).
  /// An input that cannot be read is left unmeasured; the run that needs it reports why.
  private func measureHostInputs(_ desired: DesiredState) throws {
    for (name, pipeline) in desired.manifests.pipelines {
      for input in pipeline.spec.inputs {
        guard case .hostPath(let path) = input.source, let digest = try? runner.hostInputs.digest(path) else {
          continue
        }
        try store.recordInputDigest(pipeline: name, input: input.name, digest: digest, at: Date())
      }
    }
  }

  /// Journals the intent, acts, journals the outcome and records an event.
  private func execute(_ action: Action, desired: DesiredState) throws -> ApplyReport.Executed {
    let cause = desired.commit.map { "commit \($0.prefix(12))" } ?? "working tree"
    let journal = try store.journalStart(actionID: action.id, commit: desired.commit, intent: action.reason, at: Date())
    progress("… \(action.resource) \(action.headline)")
    var error: String?
    var detail = ""
    var rolledBack = false
    do {
      detail = try perform(action, desired: desired, cause: cause)
      rolledBack = action.verb == .rollback
    } catch let failure {
      error = "\(failure)"
      rolledBack = failure is RolloutFailed
    }
    try store.journalFinish(journal, error: error, at: Date())
    try store.appendEvent(
      kind: action.verb.rawValue + (error == nil ? "" : "-failed"), resource: action.resource, commit: desired.commit,
      cause: "\(cause): \(action.reason)", message: error ?? detail, at: Date())
    if rolledBack { detail += afterRollback(action, desired: desired, error: error) }
    notify(action, desired: desired, error: error, rolledBack: rolledBack)
    return ApplyReport.Executed(action: action, error: error, detail: detail)
  }

  /// After a rollback: with write-back on, a branch pins the version now serving, and an event
  /// names it. Returns what to add to the action's detail.
  private func afterRollback(_ action: Action, desired: DesiredState, error: String?) -> String {
    let name = action.resource.name
    guard let writeBack, let record = try? store.deploymentRecord(name), let active = record.active,
      let deployment = desired.manifests.deployments[name], let location = desired.manifests.locations[action.resource]
    else { return "" }
    let reason = error ?? action.reason
    do {
      let branch = try writeBack(deployment, location, active.modelVersion, reason)
      try? store.appendEvent(
        kind: "write-back", resource: action.resource, commit: desired.commit, cause: reason,
        message: "pushed branch \(branch) pinning v\(active.modelVersion): open a pull request to make git match",
        at: Date())
      progress("✓ \(action.resource) write-back: branch \(branch) pins v\(active.modelVersion)")
      return "; branch \(branch) pins v\(active.modelVersion)"
    } catch {
      try? store.appendEvent(
        kind: "write-back-failed", resource: action.resource, commit: desired.commit, cause: reason,
        message: "\(error)", at: Date())
      progress("✗ \(action.resource) write-back: \(error)")
      return "; write-back failed: \(error)"
    }
  }

  /// Sends what the `notify` targets asked for: rollbacks, failed runs, failed actions, promotions.
  private func notify(_ action: Action, desired: DesiredState, error: String?, rolledBack: Bool) {
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

  private func declared(_ name: String, _ desired: DesiredState) throws -> Deployment {
    guard let deployment = desired.manifests.deployments[name] else {
      throw RunError("deployment \(name) is not declared")
    }
    return deployment
  }

  private func requireServing() throws -> ServingExecutor {
    guard let serving else { throw RunError("this agent has no serving runtime") }
    return serving
  }

  private func perform(_ action: Action, desired: DesiredState, cause: String) throws -> String {
    let name = action.resource.name
    switch action.verb {
    case .train:
      guard let pipeline = desired.manifests.pipelines[name] else { throw RunError("pipeline \(name) is not declared") }
      let outcome = runner.run(pipeline, desired: desired, reason: action.reason)
      if let error = outcome.error {
        throw RunError("run \(outcome.runID) failed: \(error) (agent logs \(outcome.runID))")
      }
      return "run \(outcome.runID) registered \(pipeline.spec.model) v\(outcome.version ?? 0)"
    case .register:
      return "registered by the training run"
    case .promote:
      guard let alias = action.key, let version = action.version else {
        throw RunError("the version to promote to is not known yet")
      }
      try registry.moveAlias(model: name, alias: alias, to: version, cause: "\(cause): \(action.reason)", at: Date())
      return "\(alias) → v\(version)"
    case .demote:
      guard let alias = action.key else { throw RunError("no alias named in \(action.id)") }
      try registry.moveAlias(model: name, alias: alias, to: nil, cause: "\(cause): \(action.reason)", at: Date())
      return "alias \(alias) removed"
    case .delete:
      if action.resource.kind == .deployment, let serving { return try serving.remove(name) }
      return "no longer managed"
    case .rollout:
      let deployment = try declared(name, desired)
      guard let serving, let version = action.version else {
        throw RunError("the version to roll out is not known yet")
      }
      let target = Revision(modelVersion: version, template: DesiredState.templateDigest(of: deployment))
      return try serving.rollout(deployment, to: target, commit: desired.commit)
    case .scale:
      return try requireServing().scale(try declared(name, desired))
    case .replace:
      return try requireServing().heal(try declared(name, desired))
    case .rollback:
      // A monitor's rollback (the action's key names it) also rejects the version rolled back from.
      return try requireServing().rollback(
        try declared(name, desired), toVersion: action.version, reason: action.reason, reject: action.key != nil)
    case .hold:
      throw RunError("a held action is not carried out")
    }
  }
}
