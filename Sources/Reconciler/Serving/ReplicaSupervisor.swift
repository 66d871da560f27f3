import Foundation
import Logging
import ServiceLifecycle

/// Probes every replica between passes (starting ones at each tick, serving ones at their
/// deployment's `health.interval`), stops replicas whose scale-down delay is over, and scrapes the
/// monitors at theirs. A replica turning healthy or leaving service, or a monitor starting to
/// fire, wakes the reconcile loop (which advances the rollout, replaces, or rolls back).
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
        let scaledDown = serving.scaleDown() > 0
        let monitorFired = serving.monitors?.tick() ?? false
        serving.router?.heartbeat()
        return probed || scaledDown || monitorFired
      }
      if changed { state.wake() }
      try? await Task.sleep(for: tick)
    }
  }
}
