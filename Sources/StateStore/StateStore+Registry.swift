import Foundation
import GRDB
import ModelOpsCore

extension StateStore {
  /// Adds a version; its number is the next one for the model.
  @discardableResult
  /// - Parameter number: the version's number when a registry assigns it (MLflow); it must be
  ///   above every number recorded. nil: the next number.
  public func registerVersion(
    model: String, artifactDigest: String?, metrics: [String: Double], lineage: [String: String], at time: Date,
    number: Int? = nil, signature: String? = nil
  ) throws(StateError) -> Int {
    try write { db in
      let last =
        try Int.fetchOne(db, sql: "SELECT MAX(version) FROM model_version WHERE model = ?", arguments: [model]) ?? 0
      let next = number ?? last + 1
      guard next > last else {
        throw StateError(
          "the registry numbered the new version of \(model) \(next), but the agent's state already records "
            + "v\(last): the registry and the state folder disagree (was the registry changed?)")
      }
      try db.execute(
        sql: """
          INSERT INTO model_version (model, version, artifact_digest, metrics, lineage, created_at, signature)
          VALUES (?, ?, ?, ?, ?, ?, ?)
          """,
        arguments: [
          model, next, artifactDigest, jsonText(metrics), jsonText(lineage), time.timeIntervalSince1970, signature,
        ])
      return next
    }
  }

  /// Points an alias at a version, closing the previous tenure; `cause` says who moved it.
  public func moveAlias(model: String, alias: String, to version: Int?, cause: String, at time: Date) throws(StateError)
  {
    try write { db in
      try db.execute(
        sql: "UPDATE alias_history SET until = ? WHERE model = ? AND alias = ? AND until IS NULL",
        arguments: [time.timeIntervalSince1970, model, alias])
      if let version {
        try db.execute(
          sql: "INSERT INTO alias_history (model, alias, version, since, cause) VALUES (?, ?, ?, ?, ?)",
          arguments: [model, alias, version, time.timeIntervalSince1970, cause])
      }
    }
  }

  /// Versions of a model that ever held an alias (kept by garbage collection).
  public func everAliased(model: String) throws(StateError) -> Set<Int> {
    try read { db in
      Set(try Int.fetchAll(db, sql: "SELECT DISTINCT version FROM alias_history WHERE model = ?", arguments: [model]))
    }
  }

  /// Records that a version's artifact was removed by garbage collection.
  public func markCollected(model: String, version: Int, at time: Date) throws(StateError) {
    try write { db in
      try db.execute(
        sql: "UPDATE model_version SET collected_at = ? WHERE model = ? AND version = ?",
        arguments: [time.timeIntervalSince1970, model, version])
    }
  }

  /// Sets one metric of a version, beside those its run recorded (a mirror step's `agreement`), so
  /// that policies' gates can use it.
  public func setVersionMetric(model: String, version: Int, name: String, value: Double) throws(StateError) {
    try write { db in
      let text = try String.fetchOne(
        db, sql: "SELECT metrics FROM model_version WHERE model = ? AND version = ?", arguments: [model, version])
      guard let text else { return }
      var metrics = fromJSON(text, as: [String: Double].self) ?? [:]
      metrics[name] = value
      try db.execute(
        sql: "UPDATE model_version SET metrics = ? WHERE model = ? AND version = ?",
        arguments: [jsonText(metrics), model, version])
    }
  }

  /// Marks a version rejected: no policy chooses it again.
  public func rejectVersion(model: String, version: Int, reason: String) throws(StateError) {
    try write { db in
      try db.execute(
        sql: "UPDATE model_version SET rejected_reason = ? WHERE model = ? AND version = ?",
        arguments: [reason, model, version])
    }
  }

  /// The registry as the planner sees it.
  func observeModels(_ db: Database) throws -> [String: ObservedModel] {
    var models: [String: ObservedModel] = [:]
    for row in try Row.fetchAll(db, sql: "SELECT * FROM model_version ORDER BY model, version") {
      let name: String = row["model"]
      let metrics = fromJSON(row["metrics"], as: [String: Double].self) ?? [:]
      let version = ModelVersion(
        version: row["version"], metrics: metrics, createdAt: Date(timeIntervalSince1970: row["created_at"]),
        rejected: (row["rejected_reason"] as String?) != nil)
      models[name, default: ObservedModel()].versions.append(version)
    }
    for row in try Row.fetchAll(db, sql: "SELECT * FROM alias_history ORDER BY model, alias, since, id") {
      let name: String = row["model"]
      let alias: String = row["alias"]
      let until: Double? = row["until"]
      let tenure = AliasTenure(
        version: row["version"], since: Date(timeIntervalSince1970: row["since"]),
        until: until.map(Date.init(timeIntervalSince1970:)))
      models[name, default: ObservedModel()].aliasHistory[alias, default: []].append(tenure)
    }
    return models
  }
}
