import Foundation
import GRDB
import ModelOpsCore

extension StateStore {
  /// Every resource's condition, by resource (`Kind/name`).
  public func conditions() throws(StateError) -> [String: ResourceCondition] {
    try read { db in try Self.fetchConditions(db) }
  }

  static func fetchConditions(_ db: Database) throws -> [String: ResourceCondition] {
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

  /// `agent retry NAME`: forgets the deployment's rolled-back revisions and ends the backoff or
  /// stall of the deployment or pipeline NAME, recording a `retry` event; returns what was done
  /// (empty: nothing to retry).
  public func retry(_ name: String, at time: Date = Date()) throws(StateError) -> [String] {
    var said: [String] = []
    let revisions = try clearFailed(deployment: name)
    if revisions > 0 { said.append("\(revisions) failed revision(s) will be tried again") }
    let conditions = try conditions()
    for kind in [ResourceKind.deployment, .pipeline] {
      let resource = ResourceID(kind, name)
      guard let condition = conditions[resource.description], condition.state != .waiting else { continue }
      _ = try clearCondition(resource.description)
      said.append("\(resource) is no longer \(condition.state.rawValue)")
    }
    if !said.isEmpty {
      try appendEvent(
        kind: "retry", resource: ResourceID(.deployment, name), commit: nil, cause: "agent retry",
        message: said.joined(separator: "; "), at: time)
    }
    return said
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
