import Foundation
import Synchronization

/// Why the loops should run now, raised from any thread (the API, the supervisors, an alert) and
/// taken by the loops: `fetch` asks the source watcher to fetch, `reconcile` asks for a pass.
public final class Wakeup: Sendable {
  private let flags = Mutex<(fetch: Bool, reconcile: Bool)>((false, false))

  public init() {}

  /// Fetch now, then reconcile (a webhook, `POST /api/v1/sync`).
  public func fetchNow() { flags.withLock { $0 = (true, true) } }
  /// Reconcile now (a supervisor report, an alert, a rollback or promote request).
  public func reconcileNow() { flags.withLock { $0.reconcile = true } }

  func takeFetch() -> Bool {
    flags.withLock { flags in
      defer { flags.fetch = false }; return flags.fetch
    }
  }
  func takeReconcile() -> Bool {
    flags.withLock { flags in
      defer { flags.reconcile = false }; return flags.reconcile
    }
  }
}

/// What the loops have done so far: readiness and the figures `/metrics` exposes.
public actor DaemonState {
  public private(set) var ready = false
  public private(set) var cycles = 0
  public private(set) var failedCycles = 0
  /// Why the last reconcile pass failed (the state database cannot be written: a full disk),
  /// nil once one succeeds; read from any thread (`agent status`).
  public nonisolated let passFailure = Mutex<String?>(nil)
  public private(set) var last = CycleOutcome()
  public nonisolated let wakeup = Wakeup()

  public init() {}

  func record(_ outcome: CycleOutcome) {
    cycles += 1
    if outcome.failed || outcome.error != nil { failedCycles += 1 }
    last = outcome
    passFailure.withLock { $0 = outcome.passError }
    ready = true
  }

  /// Asks for a fetch and a pass now (webhook, `POST /api/v1/sync`); requests while one is pending merge.
  public nonisolated func requestSync() { wakeup.fetchNow() }

  /// Asks for a pass now, without a fetch.
  public nonisolated func wake() { wakeup.reconcileNow() }
}

/// Set once the agent begins a graceful shutdown.
public final class ShutdownFlag: Sendable {
  private let raised = Atomic<Bool>(false)

  public init() {}

  public func raise() { raised.store(true, ordering: .relaxed) }
  public var isRaised: Bool { raised.load(ordering: .relaxed) }
}

/// Runs blocking work (git, a pass, probes) on a thread of its own, off the cooperative pool.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
  await withCheckedContinuation { continuation in
    Thread { continuation.resume(returning: work()) }.start()
  }
}

/// Sleeps until `deadline` in short steps, returning early when `done` says so (a wake-up flag, a
/// shutdown): a request is noticed within 25 ms.
func sleep(until deadline: ContinuousClock.Instant, unless done: () -> Bool) async {
  // A cancelled task (the service group stops: another service failed) returns at once.
  while ContinuousClock.now < deadline, !done(), !Task.isCancelled {
    try? await Task.sleep(for: .milliseconds(25))
  }
}
