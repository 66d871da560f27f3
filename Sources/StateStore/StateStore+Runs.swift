import Foundation
import GRDB
import ModelOpsCore

/// Where a running training run is: the step and attempt, the process (pid and kernel start time)
/// or container running it, and its deadlines. Saved at every change, so a restarted agent adopts
/// the run instead of starting it again.
public struct RunProgress: Sendable, Hashable {
  public var id: String
  public var pipeline: String
  /// Index of the step running (or about to run).
  public var step = 0
  /// 1 for the first attempt of the step.
  public var attempt = 1
  public var pid: Int32?
  public var startTicks: UInt64?
  public var container: String?
  /// The Ray job (its submission id) running the step's attempt, with `runtime: ray`.
  public var rayJob: String?
  /// When the step attempt is stopped (its `timeout`, or the run's, whichever comes first).
  public var stepDeadline: Date?
  /// A failed attempt's retry starts at this time (backoff); nil: as soon as the supervisor looks.
  public var nextAttemptAt: Date?
  public var startedAt: Date
  /// Why the run started (the planner's reason), and the commit it trains.
  public var reason = ""
  public var commit: String?

  public init(id: String, pipeline: String, startedAt: Date) {
    self.id = id
    self.pipeline = pipeline
    self.startedAt = startedAt
  }

  /// Whether a step attempt has been started (a process or container is recorded).
  public var hasProcess: Bool { pid != nil || container != nil || rayJob != nil }
}

/// How a run ended.
public enum RunEnd: String, Sendable {
  case succeeded, failed
  /// Stopped by the agent's shutdown; the planner starts the pipeline again by its rules.
  case interrupted
}

extension StateStore {
  /// The runs in progress, oldest first.
  public func activeRuns() throws(StateError) -> [RunProgress] {
    try read { db in
      try Row.fetchAll(db, sql: "SELECT * FROM run WHERE status = 'running' ORDER BY started_at").map { row in
        var run = RunProgress(
          id: row["id"], pipeline: row["pipeline"], startedAt: Date(timeIntervalSince1970: row["started_at"] ?? 0))
        run.step = row["step"]
        run.attempt = row["attempt"]
        run.pid = (row["pid"] as Int64?).map { Int32(truncatingIfNeeded: $0) }
        run.startTicks = (row["start_ticks"] as Int64?).map { UInt64(clamping: $0) }
        run.container = row["container_id"]
        run.rayJob = row["ray_job"]
        run.stepDeadline = (row["step_deadline"] as Double?).map(Date.init(timeIntervalSince1970:))
        run.nextAttemptAt = (row["next_attempt_at"] as Double?).map(Date.init(timeIntervalSince1970:))
        run.reason = row["reason"] ?? ""
        run.commit = row["commit_id"]
        return run
      }
    }
  }

  /// Saves where a running run is (only while it is `running`: a finished run stays finished).
  public func saveRunProgress(_ run: RunProgress) throws(StateError) {
    try write { db in
      try db.execute(
        sql: """
          UPDATE run SET step = ?, attempt = ?, pid = ?, start_ticks = ?, container_id = ?, step_deadline = ?,
            next_attempt_at = ?, ray_job = ?
          WHERE id = ? AND status = 'running'
          """,
        arguments: [
          run.step, run.attempt, run.pid, run.startTicks.map { Int64(clamping: $0) }, run.container,
          run.stepDeadline?.timeIntervalSince1970, run.nextAttemptAt?.timeIntervalSince1970, run.rayJob, run.id,
        ])
    }
  }

  /// Marks a run ended; `version` is what a successful run registered, `error` why it did not succeed.
  /// When the pipeline's newest finished run failed: the time it finished; nil when it succeeded,
  /// was interrupted, or none finished.
  public func lastFailure(pipeline: String) throws(StateError) -> Date? {
    try read { db in
      guard
        let row = try Row.fetchOne(
          db,
          sql: """
            SELECT status, finished_at FROM run WHERE pipeline = ? AND finished_at IS NOT NULL
            ORDER BY finished_at DESC LIMIT 1
            """, arguments: [pipeline]),
        (row["status"] as String?) == RunEnd.failed.rawValue
      else { return nil }
      return (row["finished_at"] as Double?).map(Date.init(timeIntervalSince1970:))
    }
  }

  public func finishRun(id: String, _ end: RunEnd, version: Int? = nil, error: String? = nil, at time: Date)
    throws(StateError)
  {
    try write { db in
      try db.execute(
        sql: """
          UPDATE run SET status = ?, finished_at = ?, registered_version = ?, error = ?, pid = NULL,
            container_id = NULL, ray_job = NULL
          WHERE id = ?
          """,
        arguments: [end.rawValue, time.timeIntervalSince1970, version, error, id])
    }
  }
}
