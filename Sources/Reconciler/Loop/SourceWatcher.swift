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
  /// `source.verify`: only commits it accepts are applied.
  private let verifier: CommitVerifier?
  /// What the verifier said of the last commits it checked (a head is checked once).
  private var verdicts: [String: Result<String, VerificationRefused>] = [:]
  /// Tells the `notify` targets that a head was not applied (`apply-failed`).
  private let notify: @Sendable (_ commit: String, _ reason: String) -> Void

  public init(
    fetch: @escaping @Sendable () throws -> GitRepository, branch: String, reader: ManifestReader, store: StateStore,
    verifier: CommitVerifier? = nil, notify: @escaping @Sendable (String, String) -> Void = { _, _ in }
  ) {
    self.fetch = fetch
    self.branch = branch
    self.reader = reader
    self.store = store
    self.verifier = verifier
    self.notify = notify
  }

  /// The last valid desired state (nil before the first valid commit was read).
  public var desired: DesiredState? { latest.withLock { $0.desired } }
  /// What the last fetch found.
  public var outcome: SourceOutcome { latest.withLock { $0.outcome } }

  /// A fetch that has not finished by its deadline: reported as the outcome's error (status,
  /// metrics) while the last valid desired state stays.
  public func fetchStalled(_ message: String) {
    latest.withLock { $0.outcome.error = message }
  }

  /// The source as `agent status` shows it.
  public var report: SourceReport {
    let (desired, outcome) = latest.withLock { ($0.desired, $0.outcome) }
    return SourceReport(
      head: outcome.head, reconciled: desired?.commit, invalidHead: outcome.invalidHead, errors: outcome.invalidErrors,
      errorCount: outcome.invalidErrorCount, fetchError: outcome.error, signer: desired?.signer)
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
      let head = commit.id.hex
      if !result.isValid {
        let errors = result.diagnostics.filter { $0.severity == .error }.map(\.description)
        refuse(head, errors, &outcome, summary: "has invalid manifests")
      } else if case .failure(let refusal) = verdict(repository, head) {
        refuse(head, [refusal.description], &outcome, summary: "is not verified (source.verify)")
      } else {
        if desired?.commit != head {
          desired = reader.desiredState(result, tree: tree, commit: commit)
          if case .success(let signer)? = verdicts[head] {
            desired?.signer = signer
            try? store.appendEvent(
              kind: "verified", resource: ResourceID(.model, "*"), commit: head, cause: "source.verify",
              message: "commit \(head.prefix(12)) signed by \(signer)", at: Date())
          }
        }
        reportedInvalid = nil
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

  /// The verifier's answer for a commit (checked once; success with no verifier).
  private func verdict(_ repository: GitRepository, _ commit: String) -> Result<String, VerificationRefused>? {
    guard let verifier else { return nil }
    if let known = verdicts[commit] { return known }
    if verdicts.count > 64 { verdicts.removeAll() }
    let answer = verifier.verify(repository, commit)
    verdicts[commit] = answer
    return answer
  }

  /// A head that is not applied: the last valid commit keeps being reconciled; the reason is in
  /// the outcome (status, metrics), and an `apply-failed` event and notification, once per commit.
  private func refuse(_ commit: String, _ errors: [String], _ outcome: inout SourceOutcome, summary: String) {
    outcome.invalidHead = commit
    outcome.invalidErrors = Array(errors.prefix(SourceReport.maxErrors))
    outcome.invalidErrorCount = errors.count
    guard reportedInvalid != commit else { return }
    reportedInvalid = commit
    let message =
      "\(errors.count) error(s), nothing of this commit is applied: " + errors.prefix(5).joined(separator: "; ")
    try? store.appendEvent(
      kind: "apply-failed", resource: ResourceID(.model, "*"), commit: commit,
      cause: "commit \(commit.prefix(12)) \(summary)", message: message, at: Date())
    notify(commit, "commit \(commit.prefix(12)) \(summary): " + errors.prefix(3).joined(separator: "; "))
  }
}
