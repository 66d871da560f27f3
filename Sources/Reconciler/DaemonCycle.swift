import Foundation
import GitSource
import ModelOpsCore
import StateStore
import Synchronization

/// What one cycle of `agent run` did, for the loop's metrics and readiness.
public struct CycleOutcome: Sendable {
  /// The head commit seen (nil when the fetch failed).
  public var head: String?
  /// The commit whose desired state was reconciled (the head, or the last valid one).
  public var reconciled: String?
  /// The head commit when its manifests are invalid (nothing of it applied).
  public var invalidHead: String?
  public var error: String?
  public var executed = 0
  public var failed = false
  public var parses = 0
  public var seconds = 0.0
}

/// One cycle of the agent's loop: fetch, read the head's manifests (parsing nothing when their
/// tree is unchanged), and reconcile — the head when it is valid, else the last valid commit
/// (a commit is atomic: an invalid one applies nothing, and the error is recorded once).
///
/// Cycles run one at a time on the loop's thread; the lock makes that a checked fact.
public final class DaemonCycle: @unchecked Sendable {
  private let lock = NSLock()
  private let fetch: @Sendable () throws -> GitRepository
  private let branch: String
  private let reader: ManifestReader
  private let reconciler: Reconciler
  private var lastValid: DesiredState? {
    didSet { latest.withLock { $0 = lastValid } }
  }
  private var reportedInvalid: String?
  /// The desired state being reconciled, readable while a cycle runs (status, the API).
  private let latest = Mutex<DesiredState?>(nil)

  /// The last valid desired state (nil before the first cycle read one).
  public var desired: DesiredState? { latest.withLock { $0 } }

  public init(
    fetch: @escaping @Sendable () throws -> GitRepository, branch: String, reader: ManifestReader,
    reconciler: Reconciler
  ) {
    self.fetch = fetch
    self.branch = branch
    self.reader = reader
    self.reconciler = reconciler
  }

  public func run() -> CycleOutcome {
    lock.lock()
    defer { lock.unlock() }
    let started = Date()
    var outcome = CycleOutcome()
    do {
      let repository = try fetch()
      let commit = try repository.resolve(branch)
      outcome.head = commit.id.hex
      let tree = repository.tree(at: commit)
      let result = reader.load(tree)
      if result.isValid {
        lastValid = reader.desiredState(result, tree: tree, commit: commit)
        reportedInvalid = nil
      } else {
        outcome.invalidHead = commit.id.hex
        if reportedInvalid != commit.id.hex {
          reportedInvalid = commit.id.hex
          let errors = result.diagnostics.prefix(5).map(\.description).joined(separator: "; ")
          try? reconciler.store.appendEvent(
            kind: "apply-failed", resource: ResourceID(.model, "*"), commit: commit.id.hex,
            cause: "commit \(commit.id.hex.prefix(12)) has invalid manifests",
            message: "\(result.diagnostics.count) error(s), nothing of this commit is applied: \(errors)", at: Date())
        }
      }
    } catch {
      outcome.error = "\(error)"
    }
    if let desired = lastValid {
      do {
        let report = try reconciler.apply(desired)
        outcome.reconciled = desired.commit
        outcome.executed = report.executed.count
        outcome.failed = report.failed
      } catch {
        outcome.error = "\(error)"
        outcome.failed = true
      }
    }
    outcome.parses = reader.parses
    outcome.seconds = Date().timeIntervalSince(started)
    return outcome
  }
}
