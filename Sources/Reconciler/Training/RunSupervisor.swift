import Foundation
import Logging
import ServiceLifecycle

/// Follows the training runs between passes: steps end, the next starts, failures are retried,
/// deadlines applied, versions registered (`Reconciler.superviseRuns`); a run that ends wakes the
/// reconcile loop (which promotes and rolls out). On shutdown, steps still running are stopped and
/// their runs recorded as interrupted (within `grace`, whatever they are doing).
public struct RunSupervisor: Service {
  let reconciler: Reconciler
  let state: DaemonState
  let logger: Logger
  let tick: Duration

  public init(reconciler: Reconciler, state: DaemonState, logger: Logger, tick: Duration = .milliseconds(250)) {
    self.reconciler = reconciler
    self.state = state
    self.logger = logger
    self.tick = tick
  }

  public func run() async throws {
    let reconciler = reconciler
    while !Task.isShuttingDownGracefully, !Task.isCancelled {
      if await onOwnThread({ reconciler.superviseRuns() }) { state.wake() }
      try? await Task.sleep(for: tick)
    }
    await onOwnThread { reconciler.interruptRuns(reason: "the agent stopped (SIGTERM or SIGINT)") }
    logger.info("run supervisor stopped")
  }
}
