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
  /// How long a fetch may take before it is reported failed (`source.fetchTimeout`).
  let timeout: Duration
  let logger: Logger

  public init(
    watcher: SourceWatcher, state: DaemonState, interval: Duration, timeout: Duration = .seconds(120), logger: Logger
  ) {
    self.watcher = watcher
    self.state = state
    self.interval = interval
    self.timeout = timeout
    self.logger = logger
  }

  public func run() async throws {
    let wakeup = state.wakeup
    let watcher = watcher
    var lastError: String?
    var lastInvalid: String?
    // The fetch in flight, on a thread of its own; this task only looks at whether it finished.
    var inFlight: FetchInFlight?
    while !Task.isShuttingDownGracefully, !Task.isCancelled {
      if inFlight == nil {
        let fetch = FetchInFlight()
        // The result is stored once the fetch is over: the lock is never held while it runs.
        Thread {
          let changed = watcher.refresh()
          fetch.finished.withLock { $0 = changed }
        }.start()
        inFlight = fetch
      }
      guard let fetch = inFlight else { break }
      let deadline = fetch.since + timeout
      while fetch.finished.withLock({ $0 }) == nil, !Task.isShuttingDownGracefully, ContinuousClock.now < deadline {
        try? await Task.sleep(for: .milliseconds(25))
      }
      if Task.isShuttingDownGracefully { break }
      guard let changed = fetch.finished.withLock({ $0 }) else {
        // A remote that accepts and never answers: said now, and no second fetch is started
        // while this one hangs (it ends when the connection does). Nothing else waits for it.
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let message =
          "the fetch did not finish within \(seconds.rounded() == seconds ? "\(Int(seconds))s" : "\(seconds)s"): "
          + "the remote does not answer"
        watcher.fetchStalled(message)
        if lastError != message {
          logger.error("fetch failed: the last valid commit keeps being reconciled", metadata: ["error": "\(message)"])
        }
        lastError = message
        await sleep(until: .now + interval) { Task.isShuttingDownGracefully || wakeup.takeFetch() }
        continue
      }
      inFlight = nil
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

/// One fetch on its thread: whether it finished (and changed the desired state), and since when.
final class FetchInFlight: Sendable {
  let finished = Mutex<Bool?>(nil)
  let since = ContinuousClock.now
}
