import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Set once the agent begins a graceful shutdown: long waits (a canary pause, a replica
/// starting) stop at their next step boundary, leaving the rollout saved to resume on restart.
public final class ShutdownFlag: Sendable {
  private let raised = Atomic<Bool>(false)

  public init() {}

  public func raise() { raised.store(true, ordering: .relaxed) }
  public var isRaised: Bool { raised.load(ordering: .relaxed) }
}

/// Probes every replica at its deployment's `health.interval` between cycles, and scrapes the
/// monitors at theirs: when a replica exits or turns unhealthy it leaves the routes at once, and
/// when a monitor starts firing, a cycle is asked for (which replaces or rolls back).
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
      let lost = await ReconcileLoop.onOwnThread {
        let replicaLost = serving.probe()
        serving.scaleDown()
        let monitorFired = serving.monitors?.tick() ?? false
        return replicaLost || monitorFired
      }
      if lost { await state.requestSync() }
      try? await Task.sleep(for: tick)
    }
  }
}
