/// What the agent reads from git, as `agent status` shows it above the resources (Argo CD's
/// comparison error): the head commit, the commit reconciled, and why they differ — a head whose
/// manifests are invalid (with its located errors), or a fetch that failed.
public struct SourceReport: Sendable, Hashable, Codable {
  /// The newest commit of the branch (nil before the first fetch succeeded).
  public var head: String?
  /// The commit whose desired state is reconciled: the head when valid, else the last valid one.
  public var reconciled: String?
  /// The head when its manifests are invalid: nothing of it is applied.
  public var invalidHead: String?
  /// The head's errors, located (`file:line:column: error: …`), at most `maxErrors`.
  public var errors: [String] = []
  /// How many errors the head has in all.
  public var errorCount = 0
  /// The last fetch's failure (the agent goes on with what it read before).
  public var fetchError: String?
  /// Who signed the commit reconciled (`source.verify`).
  public var signer: String?
  /// Why the last reconcile pass failed (a full disk, an unwritable state database): what the
  /// table shows may be out of date until one succeeds.
  public var passError: String?

  public static let maxErrors = 20

  public init(
    head: String? = nil, reconciled: String? = nil, invalidHead: String? = nil, errors: [String] = [],
    errorCount: Int = 0, fetchError: String? = nil, signer: String? = nil
  ) {
    self.signer = signer
    self.head = head
    self.reconciled = reconciled
    self.invalidHead = invalidHead
    self.errors = errors
    self.errorCount = errorCount
    self.fetchError = fetchError
  }

  /// The lines `agent status` prints above its table.
  public var lines: [String] {
    func short(_ commit: String?) -> String { commit.map { String($0.prefix(12)) } ?? "none" }
    var lines: [String] = []
    if let invalid = invalidHead {
      lines.append(
        "Head \(short(invalid)) has invalid manifests: nothing of it is applied; the agent reconciles "
          + "\(short(reconciled)), the last valid commit. \(errorCount) error(s):")
      lines += errors.map { "  " + $0 }
      if errorCount > errors.count { lines.append("  … and \(errorCount - errors.count) more (agent validate)") }
    } else {
      lines.append("Commit \(short(reconciled ?? head))" + (signer.map { ", signed by \($0)" } ?? ""))
    }
    if let fetchError { lines.append("The last fetch failed (retried every interval): \(fetchError)") }
    if let passError {
      lines.append(
        "The last reconcile pass failed (retried every interval; what it did may not be recorded): \(passError)")
    }
    return lines
  }
}
