import Foundation
import GRDB
import ModelOpsCore

/// An event of the audit trail, as `agent history` shows it.
public struct EventRecord: Sendable, Hashable, Codable {
  public var id: Int64
  public var at: Date
  public var kind: String
  public var resource: String
  public var commit: String?
  public var cause: String
  public var message: String
}

/// A run as `agent logs` and `agent models` show it.
public struct RunRecord: Sendable, Hashable, Codable {
  public var id: String
  public var pipeline: String
  public var status: String
  public var commit: String?
  public var reason: String
  public var startedAt: Date?
  public var finishedAt: Date?
  public var registeredVersion: Int?
  /// Why a run failed or was interrupted.
  public var error: String?
}

/// A registered version with everything the registry knows of it.
public struct VersionRecord: Sendable, Hashable, Codable {
  public var model: String
  public var version: Int
  public var artifactDigest: String?
  public var metrics: [String: Double]
  /// Where it came from: commit, run, pipeline, pipelineDigest, startedAt, finishedAt.
  public var lineage: [String: String]
  /// The run's params and the digests of its inputs (nil from an agent older than these fields).
  public var params: [String: String]?
  public var inputs: [String: String]?
  public var createdAt: Date
  public var rejectedReason: String?
  /// Aliases pointing at it now.
  public var aliases: [String]
  /// When its artifact was garbage-collected (`retain`); nil while it is stored.
  public var collectedAt: Date?
  /// Why a policy alias did not take it (`held back from production: accuracy 0.938 is below the
  /// gate's min 0.99`), when the manifests are known (the running agent's answer).
  public var heldBack: String?
  /// The SSH signature of its model's name and artifact digest (`signing`); nil: unsigned.
  public var signature: String?
}

extension StateStore {
  /// Writes an intent before acting; returns its journal id.
  public func journalStart(actionID: String, commit: String?, intent: String, at time: Date) throws(StateError) -> Int64
  {
    try write { db in
      try db.execute(
        sql: "INSERT INTO journal (action_id, commit_id, intent, status, started_at) VALUES (?, ?, ?, 'started', ?)",
        arguments: [actionID, commit, intent, time.timeIntervalSince1970])
      return db.lastInsertedRowID
    }
  }

  /// Writes the outcome of an intent.
  public func journalFinish(_ id: Int64, error: String?, at time: Date) throws(StateError) {
    try write { db in
      try db.execute(
        sql: "UPDATE journal SET status = ?, finished_at = ?, error = ? WHERE id = ?",
        arguments: [error == nil ? "succeeded" : "failed", time.timeIntervalSince1970, error, id])
    }
  }

  /// Forgets an intent that changed nothing (an action that only waited again).
  public func journalDiscard(_ id: Int64) throws(StateError) {
    try write { db in try db.execute(sql: "DELETE FROM journal WHERE id = ?", arguments: [id]) }
  }

  /// Intents started and never finished (the agent stopped mid-action).
  public func unfinishedIntents() throws(StateError) -> [String] {
    try read { db in try String.fetchAll(db, sql: "SELECT action_id FROM journal WHERE status = 'started' ORDER BY id")
    }
  }

  /// Closes the intents a stopped agent left open (journaled, never finished) and says so in the
  /// audit trail, in the same write: an `interrupted` event per intent, on its resource, so that
  /// `agent history` shows an action whose end was never recorded (its effect may be in the state:
  /// the next pass goes on from what it finds). Returns how many.
  @discardableResult
  public func abandonUnfinishedIntents(at time: Date) throws(StateError) -> Int {
    try write { db in
      let open = try Row.fetchAll(
        db, sql: "SELECT action_id, commit_id, intent FROM journal WHERE status = 'started' ORDER BY id")
      for row in open {
        // `verb/Kind/name[/detail]`
        let parts = (row["action_id"] as String).split(separator: "/", maxSplits: 3).map(String.init)
        guard parts.count >= 3, let kind = ResourceKind(rawValue: parts[1]) else { continue }
        try Self.insertEvent(
          db, kind: "interrupted", resource: ResourceID(kind, parts[2]), commit: row["commit_id"],
          cause: row["intent"],
          message:
            "the agent stopped during \(parts[0]) before recording its end; the next pass went on from the state",
          at: time)
      }
      try db.execute(
        sql:
          "UPDATE journal SET status = 'failed', finished_at = ?, error = 'agent stopped before it finished' WHERE status = 'started'",
        arguments: [time.timeIntervalSince1970])
      return open.count
    }
  }

  /// The audit trail, newest last; optionally of one resource name.
  public func events(named name: String? = nil, limit: Int = 200) throws(StateError) -> [EventRecord] {
    try read { db in
      let rows: [Row]
      if let name {
        rows = try Row.fetchAll(
          db, sql: "SELECT * FROM event WHERE resource LIKE ? ORDER BY id DESC LIMIT ?",
          arguments: ["%/\(name)", limit])
      } else {
        rows = try Row.fetchAll(db, sql: "SELECT * FROM event ORDER BY id DESC LIMIT ?", arguments: [limit])
      }
      return rows.reversed().map { row in
        EventRecord(
          id: row["id"], at: Date(timeIntervalSince1970: row["at"]), kind: row["kind"], resource: row["resource"],
          commit: row["commit_id"], cause: row["cause"], message: row["message"])
      }
    }
  }

  /// Records the digest a host input has now (what `onInputChange` compares with the last run's).
  public func recordInputDigest(pipeline: String, input: String, digest: String, at time: Date) throws(StateError) {
    try write { db in
      try db.execute(
        sql: "INSERT OR REPLACE INTO input_digest (pipeline, input, digest, measured_at) VALUES (?, ?, ?, ?)",
        arguments: [pipeline, input, digest, time.timeIntervalSince1970])
    }
  }

  /// Marks a run started (status `running`).
  public func startRun(
    id: String, pipeline: String, commit: String?, specDigest: String, inputDigests: [String: String], reason: String,
    at time: Date
  ) throws(StateError) {
    try write { db in
      try db.execute(
        sql: """
          INSERT INTO run (id, pipeline, status, commit_id, spec_digest, input_digests, reason, started_at)
          VALUES (?, ?, 'running', ?, ?, ?, ?, ?)
          """,
        arguments: [id, pipeline, commit, specDigest, jsonText(inputDigests), reason, time.timeIntervalSince1970])
    }
  }

  /// Marks a run finished; `version` is what a successful run registered.
  public func finishRun(id: String, succeeded: Bool, version: Int?, at time: Date) throws(StateError) {
    try finishRun(id: id, succeeded ? .succeeded : .failed, version: version, at: time)
  }

  public func run(id: String) throws(StateError) -> RunRecord? {
    try read { db in try Row.fetchOne(db, sql: "SELECT * FROM run WHERE id = ?", arguments: [id]).map(Self.runRecord) }
  }

  public func runs(pipeline: String? = nil) throws(StateError) -> [RunRecord] {
    try read { db in
      let sql = "SELECT * FROM run \(pipeline == nil ? "" : "WHERE pipeline = ?") ORDER BY started_at"
      return try Row.fetchAll(db, sql: sql, arguments: pipeline.map { [$0] } ?? []).map(Self.runRecord)
    }
  }

  /// Every version of every model (or of one), with its current aliases.
  public func versions(model: String? = nil) throws(StateError) -> [VersionRecord] {
    try read { db in
      var aliases: [String: [String]] = [:]
      for row in try Row.fetchAll(
        db, sql: "SELECT model, alias, version FROM alias_history WHERE until IS NULL ORDER BY alias")
      {
        let key = "\(row["model"] as String)#\(row["version"] as Int)"
        aliases[key, default: []].append(row["alias"])
      }
      let sql = "SELECT * FROM model_version \(model == nil ? "" : "WHERE model = ?") ORDER BY model, version"
      return try Row.fetchAll(db, sql: sql, arguments: model.map { [$0] } ?? []).map { row in
        let name: String = row["model"]
        let version: Int = row["version"]
        var lineage = fromJSON(row["lineage"], as: [String: String].self) ?? [:]
        // Stored as JSON text inside the lineage; given as objects of their own.
        let params = lineage.removeValue(forKey: "params").flatMap { fromJSON($0, as: [String: String].self) }
        let inputs = lineage.removeValue(forKey: "inputs").flatMap { fromJSON($0, as: [String: String].self) }
        return VersionRecord(
          model: name, version: version, artifactDigest: row["artifact_digest"],
          metrics: fromJSON(row["metrics"], as: [String: Double].self) ?? [:], lineage: lineage, params: params,
          inputs: inputs, createdAt: Date(timeIntervalSince1970: row["created_at"]),
          rejectedReason: row["rejected_reason"],
          aliases: aliases["\(name)#\(version)"] ?? [],
          collectedAt: (row["collected_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
          signature: row["signature"])
      }
    }
  }

  private static func runRecord(_ row: Row) -> RunRecord {
    let started: Double? = row["started_at"]
    let finished: Double? = row["finished_at"]
    return RunRecord(
      id: row["id"], pipeline: row["pipeline"], status: row["status"], commit: row["commit_id"], reason: row["reason"],
      startedAt: started.map(Date.init(timeIntervalSince1970:)),
      finishedAt: finished.map(Date.init(timeIntervalSince1970:)),
      registeredVersion: row["registered_version"], error: row["error"])
  }
}
