import Foundation
import Logging
import ModelOpsCore
import ServiceLifecycle
import Synchronization

/// What one pass of `agent run` did, for the loop's metrics and readiness.
public struct CycleOutcome: Sendable {
  /// The head commit seen (nil when the fetch failed).
  public var head: String?
  /// The commit whose desired state was reconciled (the head, or the last valid one).
  public var reconciled: String?
  /// The head commit when its manifests are invalid (nothing of it applied).
  public var invalidHead: String?
  public var error: String?
  /// The pass itself failed (not the fetch, not one action): nothing it did may be recorded.
  public var passError: String?
  public var executed = 0
  /// Actions still waiting for time or work in progress.
  public var waiting = 0
  public var failed = false
  public var parses = 0
  public var seconds = 0.0
  /// When a waiting or retrying resource wants the next pass.
  public var wakeAt: Date?
}

/// The reconcile loop as a service: a pass over the last valid desired state, then sleep until
/// the earliest of the poll interval, the time a waiting or retrying resource asked for, or a
/// wake-up (a new commit, a supervisor's report, an alert, a request). A pass never waits for
/// work: it starts or advances it. On SIGTERM the pass in progress finishes (passes are short).
public struct ReconcileLoop: Service {
  let watcher: SourceWatcher
  let reconciler: Reconciler
  let state: DaemonState
  let interval: Duration
  let logger: Logger
  let shutdown: ShutdownFlag

  public init(
    watcher: SourceWatcher, reconciler: Reconciler, state: DaemonState, interval: Duration, logger: Logger,
    shutdown: ShutdownFlag = ShutdownFlag()
  ) {
    self.watcher = watcher
    self.reconciler = reconciler
    self.state = state
    self.interval = interval
    self.logger = logger
    self.shutdown = shutdown
  }

  public func run() async throws {
    let shutdown = shutdown
    try await withGracefulShutdownHandler {
      try await loop()
    } onGracefulShutdown: {
      shutdown.raise()
    }
  }

  private func loop() async throws {
    let wakeup = state.wakeup
    let (watcher, reconciler) = (watcher, reconciler)
    // Start where the last agent stopped: open intents closed, replicas probed and adopted.
    do {
      try await onOwnThread { Result { try reconciler.start(watcher.desired) } }.get()
    } catch {
      logger.error("cannot read the state to start from", metadata: ["error": "\(error)"])
    }
    while !shutdown.isRaised, !Task.isCancelled {
      guard let desired = watcher.desired else {
        await sleep(until: .now + .milliseconds(100)) { shutdown.isRaised }
        continue
      }
      let outcome = await onOwnThread { Self.pass(reconciler, desired, watcher.outcome) }
      await state.record(outcome)
      if let error = outcome.error {
        logger.error("reconcile pass failed", metadata: ["error": "\(error)"])
      } else if outcome.executed > 0 {
        logger.debug(
          "pass done",
          metadata: [
            "commit": "\(outcome.reconciled?.prefix(12) ?? "-")", "actions": "\(outcome.executed)",
            "waiting": "\(outcome.waiting)", "seconds": "\(String(format: "%.3f", outcome.seconds))",
          ])
      }
      var deadline = ContinuousClock.now + interval
      if let wake = outcome.wakeAt {
        let soon = ContinuousClock.now + .milliseconds(Int64(max(0, wake.timeIntervalSinceNow) * 1000))
        deadline = min(deadline, soon)
      }
      await sleep(until: deadline) { shutdown.isRaised || wakeup.takeReconcile() }
    }
    logger.info("reconcile loop stopped")
  }

  /// One pass, never throwing: a failure is the outcome's error.
  static func pass(_ reconciler: Reconciler, _ desired: DesiredState, _ source: SourceOutcome) -> CycleOutcome {
    let started = Date()
    var outcome = CycleOutcome()
    outcome.head = source.head
    outcome.invalidHead = source.invalidHead
    outcome.parses = source.parses
    if let error = source.error { outcome.error = "fetch: \(error)" }
    do {
      let report = try reconciler.reconcile(desired)
      outcome.reconciled = desired.commit
      outcome.executed = report.executed.count
      outcome.waiting = report.waiting.count
      outcome.failed = report.failed
      outcome.wakeAt = report.wakeAt
    } catch {
      outcome.error = "\(error)"
      outcome.passError = "\(error)"
      outcome.failed = true
    }
    outcome.seconds = Date().timeIntervalSince(started)
    return outcome
  }
}
