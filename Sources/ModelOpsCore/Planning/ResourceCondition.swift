import Foundation

/// Where a resource's last action left it when it did not finish: waiting for time or for work in
/// progress, retrying after a transient failure, or stalled until a person acts (Flux's
/// waiting vs stalling). A resource whose last action finished has none.
public struct ResourceCondition: Sendable, Hashable, Codable {
  public enum State: String, Sendable, Codable {
    /// Work is in progress or a timer runs (a canary pause, a replica starting, a queued run).
    case waiting
    /// The action failed and is tried again at `nextAt`, with exponential backoff.
    case retrying
    /// The action failed in a way retrying cannot fix: nothing is tried until the desired state
    /// of the resource changes or `agent retry`.
    case stalled
  }

  public var resource: String
  /// The action the condition belongs to (a different action, e.g. after a new commit, starts afresh).
  public var action: String
  public var state: State
  public var reason: String
  /// Failed attempts in a row (retrying, stalled).
  public var attempts: Int
  /// When the loop looks again (waiting), or tries again (retrying); nil: when something wakes it.
  public var nextAt: Date?
  /// When the resource entered this state.
  public var since: Date

  public init(
    resource: String, action: String, state: State, reason: String, attempts: Int = 0, nextAt: Date? = nil,
    since: Date
  ) {
    self.resource = resource
    self.action = action
    self.state = state
    self.reason = reason
    self.attempts = attempts
    self.nextAt = nextAt
    self.since = since
  }

  /// `retrying at 12:03:10: …`, `stalled: …`, `waiting until 12:03:10: …`.
  public var summary: String {
    let at = nextAt.map { Self.clock.string(from: $0) }
    switch state {
    case .waiting: return at.map { "waiting until \($0): \(reason)" } ?? "waiting: \(reason)"
    case .retrying: return "retrying at \(at ?? "-") (attempt \(attempts + 1)): \(reason)"
    case .stalled: return "stalled: \(reason)"
    }
  }

  private static let clock: DateFormatter = {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.dateFormat = "HH:mm:ss"
    return formatter
  }()
}
