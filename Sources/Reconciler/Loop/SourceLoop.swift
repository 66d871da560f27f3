import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The source watcher as a service: a fetch at each poll interval or sync request, on a thread of
/// its own; a new valid commit wakes the reconcile loop. A fetch that stalls delays only the next
/// fetch — and never the agent's shutdown: the loop stops without waiting for it.
public struct SourceLoop: Service {
  let watcher: SourceWatcher
  let state: DaemonState
  let interval: Duration
  let logger: Logger

  public init(watcher: SourceWatcher, state: DaemonState, interval: Duration, logger: Logger) {
    self.watcher = watcher
    self.state = state
    self.interval = interval
    self.logger = logger
  }

  public func run() async throws {
    let wakeup = state.wakeup
    let watcher = watcher
    var lastError: String?
    var lastInvalid: String?
    while !Task.isShuttingDownGracefully {
      // The fetch runs on its own thread; this task only looks at whether it finished.
      let finished = Mutex<Bool?>(nil)
      Thread { finished.withLock { $0 = watcher.refresh() } }.start()
      while finished.withLock({ $0 }) == nil, !Task.isShuttingDownGracefully {
        try? await Task.sleep(for: .milliseconds(25))
      }
      guard let changed = finished.withLock({ $0 }) else { break }
      if changed { wakeup.reconcileNow() }
      let outcome = watcher.outcome
      if let error = outcome.error, error != lastError {
        logger.error("fetch failed: the last valid commit keeps being reconciled", metadata: ["error": "\(error)"])
      } else if changed, let head = outcome.head {
        logger.info("new commit", metadata: ["commit": "\(head.prefix(12))"])
      }
      if let invalid = outcome.invalidHead, invalid != lastInvalid {
        // A pass records it (status, /metrics) now rather than at the next interval.
        wakeup.reconcileNow()
        logger.error(
          "the head commit has invalid manifests: nothing of it is applied",
          metadata: [
            "commit": "\(invalid.prefix(12))", "errors": "\(outcome.invalidErrorCount)",
            "first": "\(outcome.invalidErrors.first ?? "-")",
            "reconciling": "\(watcher.desired?.commit?.prefix(12) ?? "-")",
          ])
      }
      lastInvalid = outcome.invalidHead
      lastError = outcome.error
      await sleep(until: .now + interval) { Task.isShuttingDownGracefully || wakeup.takeFetch() }
    }
  }
}
