import Drivers
import Foundation
import ModelOpsCore
import StateStore

extension Reconciler {
  /// The identity a resource's condition belongs to: the action, what it moves to, and for a
  /// pipeline its spec digest — a new commit that changes the resource starts its backoff afresh.
  func conditionKey(_ action: Action, _ desired: DesiredState) -> String {
    if action.verb == .train, let pipeline = desired.manifests.pipelines[action.resource.name] {
      return Self.trainingKey(pipeline: pipeline.metadata.name, specDigest: desired.specDigest(of: pipeline))
    }
    return action.id + "→" + (action.to ?? "")
  }

  /// The condition key of a pipeline's runs (the supervisor backs off a failed run with it).
  static func trainingKey(pipeline: String, specDigest: String) -> String {
    "train/Pipeline/\(pipeline)@\(specDigest.prefix(12))"
  }

  /// Journals the intent, acts, journals the outcome and records an event (a step that only
  /// waits again for the same thing records none).
  func execute(_ action: Action, desired: DesiredState, now: Date, previous: ResourceCondition? = nil) throws
    -> ApplyReport.Executed
  {
    let cause = desired.commit.map { "commit \($0.prefix(12))" } ?? "working tree"
    let journal = try store.journalStart(actionID: action.id, commit: desired.commit, intent: action.reason, at: now)
    CrashPoint.reached("\(action.verb.rawValue).intent")
    let about = ["resource": action.resource.description, "action": action.verb.rawValue]
    if previous?.state != .waiting { progress(Progress("… \(action.resource) \(action.headline)", about)) }
    var outcome = ApplyReport.Executed(action: action, error: nil, detail: "")
    var rolledBack = action.verb == .rollback
    do {
      switch try perform(action, desired: desired, cause: cause) {
      case .done(let detail):
        outcome.detail = detail
      case .waiting(let until, let reason):
        outcome.waiting = true
        outcome.until = until
        outcome.detail = reason
        rolledBack = false
      case .failed(let failure):
        throw failure
      }
    } catch let failure {
      let step = failure as? StepFailure ?? StepFailure.from(failure)
      outcome.error = step.description
      outcome.failure = step.kind
      rolledBack = step.kind == .rolledBack
    }
    CrashPoint.reached("\(action.verb.rawValue).done")
    if outcome.waiting, previous?.state == .waiting, previous?.reason == outcome.detail {
      try store.journalDiscard(journal)  // it only waits again for the same thing: nothing to keep
    } else {
      try store.journalFinish(journal, error: outcome.error, at: Date())
    }
    CrashPoint.reached("\(action.verb.rawValue).journaled")
    if !outcome.waiting {
      // A run's start is journaled; its end (the supervisor's) is the event.
      if action.verb != .train || outcome.error != nil {
        try store.appendEvent(
          kind: action.verb.rawValue + (outcome.error == nil ? "" : "-failed"), resource: action.resource,
          commit: desired.commit, cause: "\(cause): \(action.reason)", message: outcome.error ?? outcome.detail,
          at: Date())
      }
      let mark = outcome.error == nil ? "✓" : "✗"
      progress(
        Progress(
          "\(mark) \(action.resource) \(action.headline): \(outcome.error ?? outcome.detail)",
          level: outcome.error == nil && !rolledBack ? .info : .warning, about))
    }
    if rolledBack { outcome.detail += afterRollback(action, desired: desired, error: outcome.error) }
    notify(action, desired: desired, error: outcome.error, rolledBack: rolledBack)
    return outcome
  }

  /// Saves the resource's condition after an action: none once it finished, `waiting` while work
  /// goes on, `retrying` with exponential backoff, or `stalled`.
  func record(_ outcome: ApplyReport.Executed, key: String, previous: [String: ResourceCondition], now: Date) throws
    -> ResourceCondition?
  {
    let resource = outcome.action.resource.description
    let before = previous[resource].flatMap { $0.action == key ? $0 : nil }
    var condition: ResourceCondition?
    if outcome.waiting {
      let since = before?.state == .waiting ? before?.since ?? now : now
      // A retry that waits (a queued run) keeps counting its failed attempts.
      let attempts = before?.state == .stalled ? 0 : before?.attempts ?? 0
      condition = ResourceCondition(
        resource: resource, action: key, state: .waiting, reason: outcome.detail, attempts: attempts,
        nextAt: outcome.until, since: since)
      if before?.state != .waiting || before?.reason != outcome.detail {
        progress(Progress("  \(outcome.action.resource) waiting: \(outcome.detail)", ["resource": resource]))
      }
    } else if let error = outcome.error, let kind = outcome.failure, kind != .rolledBack {
      let attempts = (before?.attempts ?? 0) + 1
      let stalled = kind == .stalled
      // After the failure was recorded (a failed run's end is stamped by then).
      let at = max(now, Date())
      condition = ResourceCondition(
        resource: resource, action: key, state: stalled ? .stalled : .retrying, reason: error, attempts: attempts,
        nextAt: stalled ? nil : at.addingTimeInterval(backoff.delay(afterAttempts: attempts)), since: at)
    }
    if let condition {
      if condition != before { try store.setCondition(condition) }
    } else if outcome.action.verb == .train, let before, before.attempts > 0 {
      // A retry has started: its run's end clears the backoff or counts one more attempt.
      return before
    } else if previous[resource] != nil {
      try store.clearCondition(resource)
    }
    return condition
  }

  private func declared(_ name: String, _ desired: DesiredState) throws -> Deployment {
    guard let deployment = desired.manifests.deployments[name] else {
      throw Stalled("deployment \(name) is not declared")
    }
    return deployment
  }

  private func requireServing() throws -> ServingExecutor {
    guard let serving else { throw Stalled("this agent has no serving runtime") }
    return serving
  }

  private func perform(_ action: Action, desired: DesiredState, cause: String) throws -> StepResult {
    let name = action.resource.name
    switch action.verb {
    case .train:
      guard let pipeline = desired.manifests.pipelines[name] else { throw Stalled("pipeline \(name) is not declared") }
      guard let runID = try runner.start(pipeline, desired: desired, reason: action.reason) else {
        return .waiting(
          until: nil,
          reason: "queued: \(runner.maxConcurrentRuns) run(s) in progress (training.maxConcurrentRuns)")
      }
      return .done("run \(runID) started (agent logs \(runID))")
    case .register:
      return .done("registered by the training run")
    case .promote:
      guard let alias = action.key, let version = action.version else {
        throw RunError("the version to promote to is not known yet")
      }
      try registry.moveAlias(model: name, alias: alias, to: version, cause: "\(cause): \(action.reason)", at: Date())
      return .done("\(alias) → v\(version)")
    case .demote:
      guard let alias = action.key else { throw Stalled("no alias named in \(action.id)") }
      try registry.moveAlias(model: name, alias: alias, to: nil, cause: "\(cause): \(action.reason)", at: Date())
      return .done("alias \(alias) removed")
    case .delete:
      if action.resource.kind == .deployment, let serving { return try serving.remove(name) }
      return .done("no longer managed")
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
      throw Stalled("a held action is not carried out")
    }
  }
}
