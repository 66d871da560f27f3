import Drivers
import Foundation
import ModelOpsCore
import StateStore

/// What one reconcile pass did.
public struct ApplyReport: Sendable {
  public struct Executed: Sendable {
    public var action: Action
    /// nil: it did not fail.
    public var error: String?
    public var detail: String
    /// It started or advanced work that goes on (the detail says what it waits for).
    public var waiting = false
    /// When to look again; nil: when a supervisor reports.
    public var until: Date?
    /// What kind of failure `error` is.
    public var failure: StepFailure.Kind?
  }
  public var executed: [Executed] = []
  /// Actions this agent cannot carry out (serving actions when it has no serving executor).
  public var notReconciled: [Action] = []
  /// Actions held on purpose, with their reasons.
  public var held: [Action] = []
  /// Actions not tried in this pass: their resource is retrying later or stalled (the condition).
  public var deferred: [(action: Action, condition: ResourceCondition)] = []

  public var failed: Bool { executed.contains { $0.error != nil } }
  /// The actions still waiting for time or work in progress.
  public var waiting: [Executed] { executed.filter(\.waiting) }
  /// The earliest time a waiting or retrying resource wants another pass.
  public var wakeAt: Date? {
    (executed.compactMap(\.until) + deferred.compactMap { $0.condition.nextAt }).min()
  }
}

/// Writes a branch pinning `version` for a deployment declared at a location; returns its name.
public typealias WriteBackHook =
  @Sendable (_ deployment: Deployment, _ declaredAt: SourceLocation, _ version: Int, _ reason: String) throws -> String

/// Reconciles desired state in passes — observe, plan, carry out every ready action of every
/// resource, observe again — and never waits: each action starts or advances work and returns
/// `done`, `waiting` or `failed` (retried with per-resource backoff, or stalled). A resource's
/// long or failing work never delays another's; what must resume is in the store.
public final class Reconciler: Sendable {
  public let store: StateStore
  public let registry: any ModelRegistry
  public let runner: TrainingRunner
  /// Rollouts, scaling, self-heal, rollbacks; nil: serving actions are reported, not carried out.
  public let serving: ServingExecutor?
  /// Where progress lines go (stderr for `agent apply`, the log for `agent run`).
  public let progress: ProgressSink
  /// The `notify` targets of the agent config (rollback, run-failed, apply-failed, promoted).
  public let notifier: Notifier?
  /// Pushes a `modelops/rollback/<deployment>` branch after a rollback (`writeBack: true`).
  public let writeBack: WriteBackHook?
  /// How long a failing resource waits before its next attempt.
  public let backoff: Backoff

  public init(
    store: StateStore, registry: any ModelRegistry, runner: TrainingRunner, serving: ServingExecutor? = nil,
    notifier: Notifier? = nil, writeBack: WriteBackHook? = nil, backoff: Backoff = Backoff(),
    progress: @escaping ProgressSink = { _ in }
  ) {
    self.store = store
    self.registry = registry
    self.runner = runner
    self.serving = serving
    self.notifier = notifier
    self.writeBack = writeBack
    self.backoff = backoff
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

  /// Where the agent starts: intents a stopped agent left open are closed, every replica is
  /// probed (dead ones marked exited, live ones adopted and routed). Runs still recorded as
  /// running are adopted by the run supervisor, not failed; a run folder with no record (the
  /// agent stopped while preparing it) is removed.
  public func start(_ desired: DesiredState?) throws {
    try store.abandonUnfinishedIntents(at: Date())
    for run in runner.discardUnrecorded() {
      progress(
        Progress("removed the folder of run \(run), prepared but never started by a stopped agent", ["run": run]))
    }
    // Replicas are judged once their deployments are declared (docker containers adopted by label
    // first); before the first commit is read there is nothing to judge them against.
    guard let desired, let serving else { return }
    serving.declare(desired.manifests.deployments)
    serving.probe(all: true)
  }

  /// One pass over `desired`: every ready action of every resource is carried out once (a
  /// resource retrying later or stalled is skipped), in rounds while actions finish at once
  /// (train → register → promote → roll out). Returns what was done and what waits.
  public func reconcile(
    _ desired: DesiredState, options: PlanOptions = PlanOptions(), now: Date = Date(), maxRounds: Int = 10
  )
    throws -> ApplyReport
  {
    try measureHostInputs(desired)
    if let serving {
      serving.declare(desired.manifests.deployments)
      serving.monitors?.declare(desired.manifests.monitors, deployments: desired.manifests.deployments)
    }
    serving?.scaleDown(now: now)
    var report = ApplyReport()
    try carryOutRollbackRequests(desired, &report)
    var conditions = try store.conditions()
    var attempted: Set<String> = []
    for _ in 0..<maxRounds {
      let plan = Planner.plan(desired: desired, observed: try store.observe(), now: now, options: options)
      let inPlan = Set(plan.actions.map(\.id))
      report.held = plan.actions.filter { $0.verb == .hold }
      report.notReconciled = plan.actions.filter { $0.verb != .hold && !isSupported($0) }
      let ready = plan.actions.filter { action in
        action.verb != .hold && isSupported(action) && !attempted.contains(action.id)
          && action.dependsOn.allSatisfy { !inPlan.contains($0) }
      }
      if ready.isEmpty { break }
      // Queued runs start oldest first (the one waiting longest for a free slot).
      let ordered = ready.sorted { a, b in
        (conditions[a.resource.description]?.since ?? .distantFuture)
          < (conditions[b.resource.description]?.since ?? .distantFuture)
      }
      for action in ordered {
        attempted.insert(action.id)
        let key = conditionKey(action, desired)
        if let condition = conditions[action.resource.description], condition.action == key,
          condition.state == .stalled || (condition.state == .retrying && (condition.nextAt ?? now) > now)
        {
          report.deferred.append((action, condition))
          continue
        }
        if action.verb == .train, try unaccountedFailure(action, conditions[action.resource.description]) {
          // The run supervisor has just recorded a failed run and not yet its backoff: it wakes
          // the loop once it has.
          continue
        }
        let before = conditions[action.resource.description].flatMap { $0.action == key ? $0 : nil }
        let outcome = try execute(action, desired: desired, now: now, previous: before)
        report.executed.append(outcome)
        conditions[action.resource.description] = try record(outcome, key: key, previous: conditions, now: now)
      }
    }
    try store.recordApplied(commit: desired.commit, resources: Set(desired.manifests.locations.keys), at: now)
    try collectGarbage(desired)
    try serving?.pruneCheckouts()
    return report
  }

  /// Rollbacks asked for (`agent rollback`, the API), kept in the store until carried out.
  private func carryOutRollbackRequests(_ desired: DesiredState, _ report: inout ApplyReport) throws {
    for (name, version) in try store.rollbackRequests().sorted(by: { $0.key < $1.key }) {
      guard desired.manifests.deployments[name] != nil else {
        try store.clearRollbackRequest(name)
        continue
      }
      let outcome = try rollback(name, toVersion: version, desired: desired)
      report.executed.append(outcome)
      if !outcome.waiting { try store.clearRollbackRequest(name) }
    }
  }

  /// Rolls a deployment back now (`agent rollback`), journaled like any action: to its previous
  /// revision, or to `version` of its model.
  public func rollback(_ name: String, toVersion version: Int?, desired: DesiredState) throws -> ApplyReport.Executed {
    var action = Action(
      .rollback, ResourceID(.deployment, name), reason: "requested by agent rollback",
      to: version.map { "v\($0)" })
    action.version = version
    let outcome = try execute(action, desired: desired, now: Date())
    progress(
      Progress(
        (outcome.error == nil ? "✓ " : "✗ ") + "\(action.resource) rollback: \(outcome.error ?? outcome.detail)",
        level: .warning, ["resource": action.resource.description]))
    return outcome
  }
}
