import Foundation
import GitSource
import ModelOpsCore
import StateStore
import Synchronization

/// What the last fetch found.
public struct SourceOutcome: Sendable {
  /// The head commit seen (nil when the fetch failed).
  public var head: String?
  /// The head commit when its manifests are invalid (nothing of it applied).
  public var invalidHead: String?
  /// Its located errors (at most `SourceReport.maxErrors`) and how many there are.
  public var invalidErrors: [String] = []
  public var invalidErrorCount = 0
  public var error: String?
  /// Manifest trees parsed so far.
  public var parses = 0
  public var seconds = 0.0
}

/// Fetches the source and reads the head's manifests (parsing nothing when their tree is
/// unchanged), keeping the last valid desired state: the head when it is valid, else the last
/// valid commit (a commit is atomic: an invalid one applies nothing, and the error is recorded
/// once). Runs on the source loop's thread, apart from the reconcile loop, so a stalled remote
/// never delays a rollout step, a rollback or a self-heal.
public final class SourceWatcher: @unchecked Sendable {
  private let lock = NSLock()
  private let fetch: @Sendable () throws -> GitRepository
  private let branch: String
  private let reader: ManifestReader
  private let store: StateStore
  private var reportedInvalid: String?
  private let latest = Mutex<(desired: DesiredState?, outcome: SourceOutcome)>((nil, SourceOutcome()))

  public init(
    fetch: @escaping @Sendable () throws -> GitRepository, branch: String, reader: ManifestReader, store: StateStore
  ) {
    self.fetch = fetch
    self.branch = branch
    self.reader = reader
    self.store = store
  }

  /// The last valid desired state (nil before the first valid commit was read).
  public var desired: DesiredState? { latest.withLock { $0.desired } }
  /// What the last fetch found.
  public var outcome: SourceOutcome { latest.withLock { $0.outcome } }

  /// The source as `agent status` shows it.
  public var report: SourceReport {
    let (desired, outcome) = latest.withLock { ($0.desired, $0.outcome) }
    return SourceReport(
      head: outcome.head, reconciled: desired?.commit, invalidHead: outcome.invalidHead, errors: outcome.invalidErrors,
      errorCount: outcome.invalidErrorCount, fetchError: outcome.error)
  }

  /// Fetches and reads the head; returns whether the desired state changed.
  @discardableResult
  public func refresh() -> Bool {
    lock.lock()
    defer { lock.unlock() }
    let started = Date()
    var outcome = SourceOutcome()
    var desired = self.desired
    do {
      let repository = try fetch()
      let commit = try repository.resolve(branch)
      outcome.head = commit.id.hex
      let tree = repository.tree(at: commit)
      let result = reader.load(tree)
      if result.isValid {
        if desired?.commit != commit.id.hex { desired = reader.desiredState(result, tree: tree, commit: commit) }
        reportedInvalid = nil
      } else {
        outcome.invalidHead = commit.id.hex
        let errors = result.diagnostics.filter { $0.severity == .error }
        outcome.invalidErrors = errors.prefix(SourceReport.maxErrors).map(\.description)
        outcome.invalidErrorCount = errors.count
        reportInvalid(commit.id.hex, result)
      }
    } catch {
      outcome.error = "\(error)"
    }
    outcome.parses = reader.parses
    outcome.seconds = Date().timeIntervalSince(started)
    let changed = latest.withLock { latest in
      defer { latest = (desired, outcome) }
      return latest.desired?.commit != desired?.commit
    }
    return changed
  }

  private func reportInvalid(_ commit: String, _ result: LoadResult) {
    guard reportedInvalid != commit else { return }
    reportedInvalid = commit
    let errors = result.diagnostics.prefix(5).map(\.description).joined(separator: "; ")
    try? store.appendEvent(
      kind: "apply-failed", resource: ResourceID(.model, "*"), commit: commit,
      cause: "commit \(commit.prefix(12)) has invalid manifests",
      message: "\(result.diagnostics.count) error(s), nothing of this commit is applied: \(errors)", at: Date())
  }
}
