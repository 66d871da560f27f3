import Foundation
import Logging
import ServiceLifecycle

/// Probes every replica between passes (starting ones at each tick, serving ones at their
/// deployment's `health.interval`) and scrapes the monitors at theirs. A replica turning healthy
/// or leaving service, a monitor starting to fire, or a scale-down delay ending wakes the
/// reconcile loop (which advances the rollout, replaces, rolls back or scales down: what writes a
/// deployment's record happens in the pass, never beside it).
public struct ReplicaSupervisor: Service {
  let serving: ServingExecutor
  let state: DaemonState
  let logger: Logger
  let tick: Duration

  public init(serving: ServingExecutor, state: DaemonState, logger: Logger, tick: Duration = .milliseconds(250)) {
    self.serving = serving
    self.state = state
    self.logger = logger
    self.tick = tick
  }

  public func run() async throws {
    // A scale-down that falls due wakes the loop once (a pass that cannot carry it out, on a
    // full disk, is retried at the loop's interval, not at every tick).
    var wasDue = false
    while !Task.isShuttingDownGracefully, !Task.isCancelled {
      let serving = serving
      let (changed, due) = await onOwnThread {
        let probed = serving.probe().changed
        let due = serving.scaleDownDue()
        let monitorFired = serving.monitors?.tick() ?? false
        serving.router?.heartbeat()
        return (probed || monitorFired, due)
      }
      if changed || (due && !wasDue) { state.wake() }
      wasDue = due
      try? await Task.sleep(for: tick)
    }
  }
}
