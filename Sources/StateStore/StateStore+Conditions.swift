import Foundation
import GRDB
import ModelOpsCore

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

extension StateStore {
  /// Every resource's condition, by resource (`Kind/name`).
  public func conditions() throws(StateError) -> [String: ResourceCondition] {
    try read { db in
      var conditions: [String: ResourceCondition] = [:]
      for row in try Row.fetchAll(db, sql: "SELECT * FROM resource_condition") {
        let condition = ResourceCondition(
          resource: row["resource"], action: row["action"],
          state: ResourceCondition.State(rawValue: row["state"]) ?? .waiting, reason: row["reason"],
          attempts: row["attempts"], nextAt: (row["next_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
          since: Date(timeIntervalSince1970: row["since"]))
        conditions[condition.resource] = condition
      }
      return conditions
    }
  }

  /// Records a resource's condition, replacing the one before.
  public func setCondition(_ condition: ResourceCondition) throws(StateError) {
    try write { db in
      try db.execute(
        sql: """
          INSERT OR REPLACE INTO resource_condition (resource, action, state, reason, attempts, next_at, since)
          VALUES (?, ?, ?, ?, ?, ?, ?)
          """,
        arguments: [
          condition.resource, condition.action, condition.state.rawValue, condition.reason, condition.attempts,
          condition.nextAt?.timeIntervalSince1970, condition.since.timeIntervalSince1970,
        ])
    }
  }

  /// Forgets a resource's condition (its action finished, or `agent retry`); true when it had one.
  @discardableResult
  public func clearCondition(_ resource: String) throws(StateError) -> Bool {
    try write { db in
      try db.execute(sql: "DELETE FROM resource_condition WHERE resource = ?", arguments: [resource])
      return db.changesCount > 0
    }
  }

  /// Asks for a rollback of a deployment (`agent rollback`, the API): kept until carried out, so a
  /// restart does not lose it. `version` nil: to the previous revision.
  public func requestRollback(_ deployment: String, toVersion version: Int?, at time: Date) throws(StateError) {
    try write { db in
      try db.execute(
        sql: "INSERT OR REPLACE INTO rollback_request (deployment, version, at) VALUES (?, ?, ?)",
        arguments: [deployment, version, time.timeIntervalSince1970])
    }
  }

  /// The rollbacks asked for and not yet carried out, by deployment (the value: the version asked for).
  public func rollbackRequests() throws(StateError) -> [String: Int?] {
    try read { db in
      var requests: [String: Int?] = [:]
      for row in try Row.fetchAll(db, sql: "SELECT deployment, version FROM rollback_request") {
        requests[row["deployment"] as String] = .some(row["version"] as Int?)
      }
      return requests
    }
  }

  /// Marks a rollback request carried out (or refused).
  public func clearRollbackRequest(_ deployment: String) throws(StateError) {
    try write { db in
      try db.execute(sql: "DELETE FROM rollback_request WHERE deployment = ?", arguments: [deployment])
    }
  }
}
