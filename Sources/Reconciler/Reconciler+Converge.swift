import Drivers
import Foundation
import ModelOpsCore
import StateStore

extension Reconciler {
  /// The run supervisor's work, once: steps every run in progress and records what ended (an
  /// event, a `run-failed` notification, the pipeline's backoff). True when a run ended.
  @discardableResult
  public func superviseRuns(now: Date = Date()) -> Bool {
    let ended = runner.advance(now: now)
    for run in ended { recordEnd(run, now: now) }
    return !ended.isEmpty
  }

  /// Whether the pipeline's last run failed after its condition was last set: the supervisor
  /// has not counted that failure in the backoff yet, so starting a run now would skip it.
  /// (Only a recent failure counts: one from before the agent kept backoffs, or whose backoff
  /// `agent retry` cleared, does not hold the pipeline back.)
  func unaccountedFailure(_ action: Action, _ condition: ResourceCondition?, now: Date = Date()) throws -> Bool {
    guard let failed = try store.lastFailure(pipeline: action.resource.name) else { return false }
    return failed > (condition?.since ?? .distantPast) && now.timeIntervalSince(failed) < 30
  }

  /// The agent is stopping: steps still running are stopped and their runs recorded as interrupted.
  public func interruptRuns(reason: String) {
    for run in runner.interruptAll(reason: reason) { recordEnd(run, now: Date()) }
  }

  func recordEnd(_ run: RunEnded, now: Date) {
    let resource = ResourceID(.pipeline, run.pipeline)
    let message: String
    let kind: String
    switch run.end {
    case .succeeded:
      kind = "train"
      message = "run \(run.runID) registered v\(run.version ?? 0)"
      _ = try? store.clearCondition(resource.description)
    case .failed:
      kind = "train-failed"
      message = "run \(run.runID) failed: \(run.error ?? "-") (agent logs \(run.runID))"
      if let digest = run.specDigest {
        let key = Self.trainingKey(pipeline: run.pipeline, specDigest: digest)
        let before = (try? store.conditions())?[resource.description].flatMap { $0.action == key ? $0 : nil }
        let attempts = (before?.state == .stalled ? 0 : before?.attempts ?? 0) + 1
        // Set after the run was recorded as failed (the pass compares the two times).
        let at = max(now, Date())
        try? store.setCondition(
          ResourceCondition(
            resource: resource.description, action: key, state: .retrying, reason: message, attempts: attempts,
            nextAt: at.addingTimeInterval(backoff.delay(afterAttempts: attempts)), since: at))
      }
      notifier?.send(
        Notification(
          event: "run-failed", resource: resource.description, from: nil, to: nil, reason: message, commit: nil))
    case .interrupted:
      kind = "train-interrupted"
      message = "run \(run.runID) interrupted: \(run.error ?? "-")"
    }
    let commit = run.commit.map { "commit \($0.prefix(12))" } ?? "working tree"
    try? store.appendEvent(
      kind: kind, resource: resource, commit: run.commit, cause: "\(commit): \(run.reason)", message: message, at: now)
    progress(
      Progress(
        (run.end == .succeeded ? "✓ " : "✗ ") + "\(resource) \(message)", level: run.end == .failed ? .warning : .info,
        ["resource": resource.description, "run": run.runID]))
  }

  /// `agent apply`: passes until the work they start is done — runs finished, replicas healthy,
  /// rollouts through their steps — sitting through canary pauses that end within `patience`.
  /// A longer pause, or a preview waiting for `agent promote`, is reported as waiting and the
  /// rollout stays saved at its step (`agent run`, another apply or `agent promote` carries it on).
  /// Failures are reported, not retried: everything else still goes as far as it can.
  public func apply(
    _ desired: DesiredState, options: PlanOptions = PlanOptions(), patience: TimeInterval = 300,
    poll: TimeInterval = 0.1
  ) throws -> ApplyReport {
    try start(desired)
    var total = ApplyReport()
    var order: [String] = []
    var latest: [String: ApplyReport.Executed] = [:]
    while true {
      let ended = runner.advance()
      for run in ended {
        recordEnd(run, now: Date())
        guard let id = order.first(where: { latest[$0]?.action.resource == ResourceID(.pipeline, run.pipeline) })
        else { continue }
        latest[id]?.error =
          run.end == .succeeded ? nil : "run \(run.runID) failed: \(run.error ?? "-") (agent logs \(run.runID))"
        latest[id]?.detail = run.end == .succeeded ? "run \(run.runID) registered v\(run.version ?? 0)" : ""
      }
      serving?.probe()
      let pass = try reconcile(desired, options: options)
      for outcome in pass.executed {
        if latest[outcome.action.id] == nil { order.append(outcome.action.id) }
        latest[outcome.action.id] = outcome
      }
      total.held = pass.held
      total.notReconciled = pass.notReconciled
      total.deferred = pass.deferred
      let now = Date()
      let runsActive = !(try store.activeRuns()).isEmpty
      let replicasStarting = try store.replicas().contains { $0.health == .starting }
      let inProgress = runsActive || replicasStarting
      let timers = pass.waiting.compactMap(\.until)
      if !inProgress, !timers.contains(where: { $0 <= now.addingTimeInterval(patience) }) {
        total.executed = order.compactMap { latest[$0] }
        return total
      }
      let next = ([now.addingTimeInterval(poll)] + timers).min() ?? now
      Thread.sleep(forTimeInterval: max(0.01, next.timeIntervalSince(now)))
    }
  }

  /// `agent rollback` without a running agent: the rollback, driven until the revision rolled
  /// back to serves (its replicas probed here), or failed.
  public func rollbackNow(_ name: String, toVersion version: Int?, desired: DesiredState, poll: TimeInterval = 0.1)
    throws -> ApplyReport.Executed
  {
    try start(desired)
    while true {
      let outcome = try rollback(name, toVersion: version, desired: desired)
      guard outcome.waiting else { return outcome }
      Thread.sleep(forTimeInterval: poll)
      serving?.probe()
    }
  }
}
