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
    while !Task.isShuttingDownGracefully {
      let serving = serving
      let changed = await onOwnThread {
        let probed = serving.probe().changed
        let scaleDownDue = serving.scaleDownDue()
        let monitorFired = serving.monitors?.tick() ?? false
        serving.router?.heartbeat()
        return probed || scaleDownDue || monitorFired
      }
      if changed { state.wake() }
      try? await Task.sleep(for: tick)
    }
  }
}
