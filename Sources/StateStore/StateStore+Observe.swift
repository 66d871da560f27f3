import Foundation
import GRDB
import ModelOpsCore

extension StateStore {
  /// Everything the planner needs from the store, read in one consistent snapshot.
  public func observe() throws(StateError) -> ObservedState {
    try read { db in
      var observed = ObservedState()
      observed.models = try observeModels(db)
      observed.pipelines = try observePipelines(db)
      observed.deployments = try observeDeployments(db)
      for row in try Row.fetchAll(db, sql: "SELECT monitor, version, since FROM monitor_state WHERE firing") {
        let monitor: String = row["monitor"]
        observed.firingMonitors.insert(monitor)
        observed.firingSince[monitor] = Date(timeIntervalSince1970: row["since"])
        if let version: Int = row["version"] { observed.firingVersions[monitor] = version }
      }
      observed.conditions = try Self.fetchConditions(db)
      for row in try Row.fetchAll(db, sql: "SELECT pipeline, input, digest FROM input_digest") {
        observed.hostInputDigests[row["pipeline"], default: [:]][row["input"]] = row["digest"]
      }
      if let row = try Row.fetchOne(db, sql: "SELECT commit_id, resources FROM applied WHERE singleton = 1") {
        observed.appliedCommit = row["commit_id"]
        let ids = fromJSON(row["resources"], as: [String].self) ?? []
        observed.appliedResources = Set(ids.compactMap(Self.resourceID))
      }
      return observed
    }
  }

  /// Records the commit whose plan was applied and the resources it declared.
  public func recordApplied(commit: String?, resources: Set<ResourceID>, at time: Date) throws(StateError) {
    try write { db in
      try db.execute(
        sql: """
          INSERT INTO applied (singleton, commit_id, resources, at) VALUES (1, ?, ?, ?)
          ON CONFLICT(singleton) DO UPDATE SET commit_id = excluded.commit_id, resources = excluded.resources, at = excluded.at
          """,
        arguments: [commit, jsonText(resources.map(\.description).sorted()), time.timeIntervalSince1970])
    }
  }

  /// Records a finished or in-progress run.
  public func recordRun(
    id: String, pipeline: String, status: String, commit: String?, specDigest: String,
    inputDigests: [String: String], startedAt: Date?, finishedAt: Date?
  ) throws(StateError) {
    try write { db in
      try db.execute(
        sql: """
          INSERT OR REPLACE INTO run (id, pipeline, status, commit_id, spec_digest, input_digests, started_at, finished_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?)
          """,
        arguments: [
          id, pipeline, status, commit, specDigest, jsonText(inputDigests), startedAt?.timeIntervalSince1970,
          finishedAt?.timeIntervalSince1970,
        ])
    }
  }

  /// Records what a deployment runs (keeping the rest of its record).
  public func recordDeployment(
    _ name: String, active: Revision?, previous: Revision? = nil, desiredReplicas: Int
  ) throws(StateError) {
    var record = try deploymentRecord(name) ?? DeploymentRecord(name: name)
    record.active = active
    record.previous = previous
    record.desiredReplicas = desiredReplicas
    try saveDeployment(record)
  }

  /// Appends to the audit trail: who (which commit or policy) caused what, and the result.
  public func appendEvent(
    kind: String, resource: ResourceID, commit: String?, cause: String, message: String, at time: Date
  ) throws(StateError) {
    try write { db in
      try Self.insertEvent(db, kind: kind, resource: resource, commit: commit, cause: cause, message: message, at: time)
    }
  }

  /// The event row, written inside a caller's transaction.
  static func insertEvent(
    _ db: Database, kind: String, resource: ResourceID, commit: String?, cause: String, message: String, at time: Date
  ) throws {
    try db.execute(
      sql: "INSERT INTO event (at, kind, resource, commit_id, cause, message) VALUES (?, ?, ?, ?, ?, ?)",
      arguments: [time.timeIntervalSince1970, kind, resource.description, commit, cause, message])
  }

  /// The number of events recorded (for tests and status).
  public func eventCount() throws(StateError) -> Int {
    try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM event") ?? 0 }
  }

  private func observePipelines(_ db: Database) throws -> [String: ObservedPipeline] {
    var pipelines: [String: ObservedPipeline] = [:]
    for row in try Row.fetchAll(db, sql: "SELECT * FROM run ORDER BY started_at") {
      let name: String = row["pipeline"]
      var seen = pipelines[name] ?? ObservedPipeline()
      let status: String = row["status"]
      let started: Double? = row["started_at"]
      // An interrupted run (the agent stopped it) answered nothing: it does not count as started.
      if let started, status != "interrupted" { seen.lastStartedAt = Date(timeIntervalSince1970: started) }
      switch status {
      case "running": seen.running = true
      case "queued": seen.queued = true
      case "succeeded":
        let finished: Double = row["finished_at"] ?? started ?? 0
        seen.lastSuccess = RunSummary(
          specDigest: row["spec_digest"],
          inputDigests: fromJSON(row["input_digests"], as: [String: String].self) ?? [:],
          commit: row["commit_id"], finishedAt: Date(timeIntervalSince1970: finished))
      default: break
      }
      pipelines[name] = seen
    }
    return pipelines
  }

  private func observeDeployments(_ db: Database) throws -> [String: ObservedDeployment] {
    var deployments: [String: ObservedDeployment] = [:]
    for row in try Row.fetchAll(db, sql: "SELECT * FROM deployment") {
      let record = Self.deploymentRecord(row)
      var seen = ObservedDeployment(active: record.active, desiredReplicas: record.desiredReplicas)
      seen.previous = record.previous
      seen.rolloutTarget = record.rollout
      seen.rolloutStep = record.rolloutStep
      seen.rolloutPromoted = record.rolloutPauseSkipped
      deployments[record.name] = seen
    }
    for row in try Row.fetchAll(db, sql: "SELECT * FROM replica ORDER BY started_at, id") {
      let record = Self.replicaRecord(row)
      let replica = ObservedDeployment.Replica(id: record.id, revision: record.revision, health: record.health)
      deployments[record.deployment, default: ObservedDeployment()].replicas.append(replica)
    }
    for row in try Row.fetchAll(db, sql: "SELECT * FROM failed_revision") {
      let revision = Revision(modelVersion: row["version"], template: row["template"])
      deployments[row["deployment"], default: ObservedDeployment()].failed.insert(revision)
      deployments[row["deployment"], default: ObservedDeployment()].failureReasons[revision] = row["reason"]
    }
    return deployments
  }

  static func resourceID(_ text: String) -> ResourceID? {
    let parts = text.split(separator: "/", maxSplits: 1)
    guard parts.count == 2, let kind = ResourceKind(rawValue: String(parts[0])) else { return nil }
    return ResourceID(kind, String(parts[1]))
  }

  /// Marks a deployment's revision failed (rolled back): not retried until `retry` or a new revision.
  public func markFailed(deployment: String, revision: Revision, reason: String, at time: Date) throws(StateError) {
    try write { db in
      try db.execute(
        sql:
          "INSERT OR REPLACE INTO failed_revision (deployment, version, template, reason, at) VALUES (?, ?, ?, ?, ?)",
        arguments: [deployment, revision.modelVersion, revision.template, reason, time.timeIntervalSince1970])
    }
  }

  /// Forgets a deployment's failed revisions (`agent retry`); returns how many there were.
  @discardableResult
  public func clearFailed(deployment: String) throws(StateError) -> Int {
    try write { db in
      try db.execute(sql: "DELETE FROM failed_revision WHERE deployment = ?", arguments: [deployment])
      return db.changesCount
    }
  }
}
