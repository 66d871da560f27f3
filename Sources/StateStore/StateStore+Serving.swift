import Foundation
import GRDB
import ModelOpsCore

/// What the store keeps of a deployment: the revisions it runs and had, and a rollout in flight.
public struct DeploymentRecord: Sendable, Hashable {
  public var name: String
  /// The revision serving all traffic (the stable one during a rollout), and its commit's checkout.
  public var active: Revision?
  public var activeCommit: String?
  /// The revision before `active`: what a rollback returns to.
  public var previous: Revision?
  public var previousCommit: String?
  /// The revision being rolled out, the strategy step it reached and its share of traffic (%).
  public var rollout: Revision?
  public var rolloutCommit: String?
  public var rolloutStep = 0
  public var rolloutWeight = 0
  /// When the rollout last made progress (the progress deadline counts from here).
  public var rolloutProgressAt: Date?
  public var desiredReplicas = 0
  /// When the replicas of revisions neither active nor rolling out (the previous one, kept for a
  /// fast rollback after a switch) are stopped; nil: at once.
  public var scaleDownAt: Date?
  /// When the rollout's current step began (a canary step's pause counts from here).
  public var rolloutStepStartedAt: Date?
  /// `agent promote` skipped the current step's pause.
  public var rolloutPauseSkipped = false

  public init(name: String) { self.name = name }
}

/// One serving replica, as started: enough to find the process again after an agent restart.
public struct ReplicaRecord: Sendable, Hashable {
  public var id: String
  public var deployment: String
  public var revision: Revision
  public var commit: String?
  public var health: ObservedDeployment.ReplicaHealth
  public var pid: Int32?
  /// The kernel's start time of the process: a pid reused by another process differs.
  public var startTicks: UInt64?
  /// The host port the replica answers on (published from its container with docker).
  public var port: Int?
  /// The container's id with the docker runtime; nil for a process.
  public var container: String?
  /// The Serve application standing for the replica with `runtime: ray` (one per revision).
  public var rayApp: String?
  public var startedAt: Date
  /// Consecutive failed health probes.
  public var failures = 0
  /// When it first answered its health check; nil: never (yet).
  public var readyAt: Date?

  public init(
    id: String, deployment: String, revision: Revision, commit: String?, health: ObservedDeployment.ReplicaHealth,
    startedAt: Date
  ) {
    self.id = id
    self.deployment = deployment
    self.revision = revision
    self.commit = commit
    self.health = health
    self.startedAt = startedAt
  }
}

extension StateStore {
  public func deploymentRecords() throws(StateError) -> [DeploymentRecord] {
    try read { db in try Row.fetchAll(db, sql: "SELECT * FROM deployment ORDER BY name").map(Self.deploymentRecord) }
  }

  public func deploymentRecord(_ name: String) throws(StateError) -> DeploymentRecord? {
    try read { db in
      try Row.fetchOne(db, sql: "SELECT * FROM deployment WHERE name = ?", arguments: [name]).map(
        Self.deploymentRecord)
    }
  }

  /// Writes every field of a deployment's record (one transaction).
  public func saveDeployment(_ record: DeploymentRecord) throws(StateError) {
    try write { db in
      try db.execute(
        sql: """
          INSERT OR REPLACE INTO deployment
            (name, active_version, active_template, active_commit, previous_version, previous_template,
             previous_commit, rollout_version, rollout_template, rollout_commit, rollout_step, rollout_weight,
             rollout_progress_at, desired_replicas, scale_down_at, rollout_step_started_at, rollout_pause_skipped)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          """,
        arguments: [
          record.name, record.active?.modelVersion, record.active?.template, record.activeCommit,
          record.previous?.modelVersion, record.previous?.template, record.previousCommit,
          record.rollout?.modelVersion, record.rollout?.template, record.rolloutCommit, record.rolloutStep,
          record.rolloutWeight, record.rolloutProgressAt?.timeIntervalSince1970, record.desiredReplicas,
          record.scaleDownAt?.timeIntervalSince1970, record.rolloutStepStartedAt?.timeIntervalSince1970,
          record.rolloutPauseSkipped,
        ])
    }
  }

  /// `agent promote`: the rollout in flight stops waiting for a person or a timer — a blue-green
  /// preview switches, a canary step's pause ends — at the next reconcile, with an event; false
  /// when the deployment has no rollout in flight.
  public func approvePromotion(_ name: String, at time: Date) throws(StateError) -> Bool {
    try write { db in
      try db.execute(
        sql: """
          UPDATE deployment SET rollout_pause_skipped = 1, rollout_progress_at = ?
          WHERE name = ? AND rollout_version IS NOT NULL AND rollout_pause_skipped = 0
          """,
        arguments: [time.timeIntervalSince1970, name])
      guard db.changesCount > 0 else { return false }
      try Self.insertEvent(
        db, kind: "promote-approved", resource: ResourceID(.deployment, name), commit: nil, cause: "agent promote",
        message: "the rollout's current wait (a preview, or a canary step's pause) ends at the next reconcile",
        at: time)
      return true
    }
  }

  /// Records whether a monitor fires, and on which model version (nil: not one version).
  public func recordMonitor(_ monitor: String, firing: Bool, version: Int?, at time: Date) throws(StateError) {
    try write { db in
      try db.execute(
        sql: "INSERT OR REPLACE INTO monitor_state (monitor, firing, since, version) VALUES (?, ?, ?, ?)",
        arguments: [monitor, firing, time.timeIntervalSince1970, version])
    }
  }

  /// The monitors the store records as firing, with the version each fires on (-1: not one version).
  public func firingMonitors() throws(StateError) -> [String: Int] {
    try read { db in
      var firing: [String: Int] = [:]
      for row in try Row.fetchAll(db, sql: "SELECT monitor, version FROM monitor_state WHERE firing") {
        firing[row["monitor"]] = (row["version"] as Int?) ?? -1
      }
      return firing
    }
  }

  /// Forgets a deployment: its record, replicas and failed revisions (after they were stopped).
  public func deleteDeployment(_ name: String) throws(StateError) {
    try write { db in
      for table in ["deployment WHERE name", "replica WHERE deployment", "failed_revision WHERE deployment"] {
        try db.execute(sql: "DELETE FROM \(table) = ?", arguments: [name])
      }
    }
  }

  /// Replicas, of one deployment or all, oldest first.
  public func replicas(of deployment: String? = nil) throws(StateError) -> [ReplicaRecord] {
    try read { db in
      let rows =
        if let deployment {
          try Row.fetchAll(
            db, sql: "SELECT * FROM replica WHERE deployment = ? ORDER BY started_at, id", arguments: [deployment])
        } else {
          try Row.fetchAll(db, sql: "SELECT * FROM replica ORDER BY started_at, id")
        }
      return rows.map(Self.replicaRecord)
    }
  }

  public func saveReplica(_ replica: ReplicaRecord) throws(StateError) {
    try write { db in
      try db.execute(
        sql: """
          INSERT OR REPLACE INTO replica
            (id, deployment, version, template, commit_id, health, pid, start_ticks, port, container_id,
             started_at, failures, ready_at, ray_app)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          """,
        arguments: [
          replica.id, replica.deployment, replica.revision.modelVersion, replica.revision.template, replica.commit,
          replica.health.rawValue, replica.pid, replica.startTicks.map { Int64(clamping: $0) }, replica.port,
          replica.container, replica.startedAt.timeIntervalSince1970, replica.failures,
          replica.readyAt?.timeIntervalSince1970, replica.rayApp,
        ])
    }
  }

  /// Records a probe's outcome; returns false when the replica is no longer recorded.
  @discardableResult
  public func updateReplicaHealth(
    _ id: String, health: ObservedDeployment.ReplicaHealth, failures: Int
  ) throws(StateError) -> Bool {
    try write { db in
      try db.execute(
        sql: """
          UPDATE replica SET health = ?, failures = ?,
            ready_at = CASE WHEN ? = 'healthy' THEN COALESCE(ready_at, ?) ELSE ready_at END
          WHERE id = ?
          """,
        arguments: [health.rawValue, failures, health.rawValue, Date().timeIntervalSince1970, id])
      return db.changesCount > 0
    }
  }

  /// Records the container a replica runs in, found after the fact (adoption by label); returns
  /// false when the replica is no longer recorded.
  @discardableResult
  public func updateReplicaContainer(_ id: String, container: String) throws(StateError) -> Bool {
    try write { db in
      try db.execute(sql: "UPDATE replica SET container_id = ? WHERE id = ?", arguments: [container, id])
      return db.changesCount > 0
    }
  }

  public func deleteReplica(_ id: String) throws(StateError) {
    try write { db in try db.execute(sql: "DELETE FROM replica WHERE id = ?", arguments: [id]) }
  }

  /// Why each failed revision of a deployment was rolled back.
  public func failedRevisions(of deployment: String) throws(StateError) -> [(revision: Revision, reason: String)] {
    try read { db in
      try Row.fetchAll(
        db, sql: "SELECT * FROM failed_revision WHERE deployment = ? ORDER BY at", arguments: [deployment]
      ).map { (Revision(modelVersion: $0["version"], template: $0["template"]), $0["reason"]) }
    }
  }

  static func deploymentRecord(_ row: Row) -> DeploymentRecord {
    var record = DeploymentRecord(name: row["name"])
    record.active = revision(row, "active")
    record.activeCommit = row["active_commit"]
    record.previous = revision(row, "previous")
    record.previousCommit = row["previous_commit"]
    record.rollout = revision(row, "rollout")
    record.rolloutCommit = row["rollout_commit"]
    record.rolloutStep = row["rollout_step"]
    record.rolloutWeight = row["rollout_weight"]
    record.rolloutProgressAt = (row["rollout_progress_at"] as Double?).map(Date.init(timeIntervalSince1970:))
    record.desiredReplicas = row["desired_replicas"]
    record.scaleDownAt = (row["scale_down_at"] as Double?).map(Date.init(timeIntervalSince1970:))
    record.rolloutStepStartedAt = (row["rollout_step_started_at"] as Double?).map(Date.init(timeIntervalSince1970:))
    record.rolloutPauseSkipped = row["rollout_pause_skipped"] ?? false
    return record
  }

  static func revision(_ row: Row, _ prefix: String) -> Revision? {
    guard let version: Int = row["\(prefix)_version"], let template: String = row["\(prefix)_template"] else {
      return nil
    }
    return Revision(modelVersion: version, template: template)
  }

  static func replicaRecord(_ row: Row) -> ReplicaRecord {
    var replica = ReplicaRecord(
      id: row["id"], deployment: row["deployment"],
      revision: Revision(modelVersion: row["version"], template: row["template"]), commit: row["commit_id"],
      health: ObservedDeployment.ReplicaHealth(rawValue: row["health"]) ?? .unhealthy,
      startedAt: Date(timeIntervalSince1970: row["started_at"] ?? 0))
    replica.pid = (row["pid"] as Int64?).map { Int32(truncatingIfNeeded: $0) }
    replica.startTicks = (row["start_ticks"] as Int64?).map { UInt64(clamping: $0) }
    replica.port = row["port"]
    replica.container = row["container_id"]
    replica.rayApp = row["ray_app"]
    replica.failures = row["failures"]
    replica.readyAt = (row["ready_at"] as Double?).map(Date.init(timeIntervalSince1970:))
    return replica
  }
}
