import Foundation
import Logging
import ServiceLifecycle

/// What the loop has done so far: readiness and the figures `/metrics` exposes.
public actor DaemonState {
  public private(set) var ready = false
  public private(set) var cycles = 0
  public private(set) var failedCycles = 0
  public private(set) var last = CycleOutcome()
  private var syncRequested = false

  public init() {}

  func record(_ outcome: CycleOutcome) {
    cycles += 1
    if outcome.failed || outcome.error != nil { failedCycles += 1 }
    last = outcome
    ready = true
  }

  /// Asks for a cycle now (webhook, `POST /api/v1/sync`); requests while one is pending merge.
  public func requestSync() { syncRequested = true }

  func takeSyncRequest() -> Bool {
    defer { syncRequested = false }
    return syncRequested
  }
}

/// The agent's loop as a service: a cycle, then wait for the interval, a sync request or a
/// graceful shutdown (SIGTERM/SIGINT). A cycle in progress always finishes: no action is left
/// half-journaled.
public struct ReconcileLoop: Service {
  let cycle: DaemonCycle
  let state: DaemonState
  let interval: Duration
  let logger: Logger

  let shutdown: ShutdownFlag

  public init(
    cycle: DaemonCycle, state: DaemonState, interval: Duration, logger: Logger, shutdown: ShutdownFlag = ShutdownFlag()
  ) {
    self.cycle = cycle
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
    while !Task.isShuttingDownGracefully {
      let outcome = await Self.onOwnThread { cycle.run() }
      await state.record(outcome)
      var metadata: Logger.Metadata = [
        "head": "\(outcome.head?.prefix(12) ?? "-")", "actions": "\(outcome.executed)",
        "seconds": "\(String(format: "%.3f", outcome.seconds))",
      ]
      if let invalid = outcome.invalidHead { metadata["invalid"] = "\(invalid.prefix(12))" }
      if let error = outcome.error {
        metadata["error"] = "\(error)"
        logger.error("cycle failed", metadata: metadata)
      } else {
        logger.info("cycle done", metadata: metadata)
      }
      await waitForNextCycle()
    }
    logger.info("stopped")
  }

  /// Sleeps in short steps so a sync request or a shutdown is noticed within 100 ms.
  private func waitForNextCycle() async {
    let deadline = ContinuousClock.now + interval
    while ContinuousClock.now < deadline, !Task.isShuttingDownGracefully {
      if await state.takeSyncRequest() { return }
      try? await Task.sleep(for: .milliseconds(100))
    }
  }

  /// Runs blocking work (git, training) on a thread of its own, off the cooperative pool.
  public static func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
      Thread { continuation.resume(returning: work()) }.start()
    }
  }
}
