import GRDB

/// The schema, as an ordered list of migrations: a state folder of any age is brought up to date
/// on open, and a migration never changes once released.
enum Schema {
  static var migrator: DatabaseMigrator {
    var migrator = DatabaseMigrator()
    migrator.registerMigration("v1") { db in
      // Registry: versions with their artifact, metrics, lineage; aliases with their history.
      try db.create(table: "model_version") { t in
        t.column("model", .text).notNull()
        t.column("version", .integer).notNull()
        t.column("artifact_digest", .text)
        t.column("metrics", .text).notNull().defaults(to: "{}")
        t.column("lineage", .text).notNull().defaults(to: "{}")
        t.column("created_at", .double).notNull()
        t.column("rejected_reason", .text)
        t.primaryKey(["model", "version"])
      }
      try db.create(table: "alias_history") { t in
        t.autoIncrementedPrimaryKey("id")
        t.column("model", .text).notNull()
        t.column("alias", .text).notNull()
        t.column("version", .integer).notNull()
        t.column("since", .double).notNull()
        t.column("until", .double)
        t.column("cause", .text).notNull()
      }
      try db.create(index: "alias_history_by_alias", on: "alias_history", columns: ["model", "alias", "since"])
      // Training runs.
      try db.create(table: "run") { t in
        t.primaryKey("id", .text)
        t.column("pipeline", .text).notNull().indexed()
        t.column("status", .text).notNull()  // queued | running | succeeded | failed
        t.column("commit_id", .text)
        t.column("spec_digest", .text).notNull()
        t.column("input_digests", .text).notNull().defaults(to: "{}")
        t.column("reason", .text).notNull().defaults(to: "")
        t.column("started_at", .double)
        t.column("finished_at", .double)
        t.column("registered_version", .integer)
      }
      // Deployments: the active revision, the one before, a rollout in flight, the replicas.
      try db.create(table: "deployment") { t in
        t.primaryKey("name", .text)
        t.column("active_version", .integer)
        t.column("active_template", .text)
        t.column("previous_version", .integer)
        t.column("previous_template", .text)
        t.column("rollout_version", .integer)
        t.column("rollout_template", .text)
        t.column("rollout_step", .integer).notNull().defaults(to: 0)
        t.column("desired_replicas", .integer).notNull().defaults(to: 0)
      }
      try db.create(table: "failed_revision") { t in
        t.column("deployment", .text).notNull()
        t.column("version", .integer).notNull()
        t.column("template", .text).notNull()
        t.column("reason", .text).notNull()
        t.column("at", .double).notNull()
        t.primaryKey(["deployment", "version", "template"])
      }
      try db.create(table: "replica") { t in
        t.primaryKey("id", .text)
        t.column("deployment", .text).notNull().indexed()
        t.column("version", .integer).notNull()
        t.column("template", .text).notNull()
        t.column("health", .text).notNull()
        t.column("pid", .integer)
        t.column("started_at", .double)
        t.column("port", .integer)
        t.column("container_id", .text)
      }
      // Monitors firing, and measured host-input digests.
      try db.create(table: "monitor_state") { t in
        t.primaryKey("monitor", .text)
        t.column("firing", .boolean).notNull()
        t.column("since", .double).notNull()
      }
      try db.create(table: "input_digest") { t in
        t.column("pipeline", .text).notNull()
        t.column("input", .text).notNull()
        t.column("digest", .text).notNull()
        t.column("measured_at", .double).notNull()
        t.primaryKey(["pipeline", "input"])
      }
      // Journal of intents (written before acting) and the audit trail of events.
      try db.create(table: "journal") { t in
        t.autoIncrementedPrimaryKey("id")
        t.column("action_id", .text).notNull()
        t.column("commit_id", .text)
        t.column("intent", .text).notNull()
        t.column("status", .text).notNull()  // started | succeeded | failed
        t.column("started_at", .double).notNull()
        t.column("finished_at", .double)
        t.column("error", .text)
      }
      try db.create(table: "event") { t in
        t.autoIncrementedPrimaryKey("id")
        t.column("at", .double).notNull()
        t.column("kind", .text).notNull()
        t.column("resource", .text).notNull()
        t.column("commit_id", .text)
        t.column("cause", .text).notNull()
        t.column("message", .text).notNull()
      }
      // The last applied commit and the resources it declared (what a deletion prunes).
      try db.create(table: "applied") { t in
        t.primaryKey("singleton", .integer).check { $0 == 1 }
        t.column("commit_id", .text)
        t.column("resources", .text).notNull()
        t.column("at", .double).notNull()
      }
    }
    // Serving: the commit each revision runs from, the rollout's progress and traffic weight, each
    // replica's process identity (pid + kernel start time) and consecutive failed probes; and when
    // a version's artifact was garbage-collected.
    migrator.registerMigration("v2") { db in
      try db.alter(table: "deployment") { t in
        t.add(column: "active_commit", .text)
        t.add(column: "previous_commit", .text)
        t.add(column: "rollout_commit", .text)
        t.add(column: "rollout_weight", .integer).notNull().defaults(to: 0)
        t.add(column: "rollout_progress_at", .double)
      }
      // Garbage collection (`retain`): the version stays on record; its artifact is gone.
      try db.alter(table: "model_version") { t in t.add(column: "collected_at", .double) }
      // The model version a monitor fired on (nil: the alert judged no single version).
      try db.alter(table: "monitor_state") { t in t.add(column: "version", .integer) }
      try db.alter(table: "replica") { t in
        t.add(column: "start_ticks", .integer)
        t.add(column: "commit_id", .text)
        t.add(column: "failures", .integer).notNull().defaults(to: 0)
      }
    }
    // Monitors: when the previous revision's replicas, kept out of traffic after a switch so a
    // rollback is instant, are stopped.
    migrator.registerMigration("v3") { db in
      try db.alter(table: "deployment") { t in t.add(column: "scale_down_at", .double) }
    }
    // Nothing waits: a canary step's start (its pause is data, not a sleeping thread) and whether
    // `agent promote` skipped it; each run's step, attempt and process (or container) so a
    // restarted agent adopts it; each resource's waiting/retrying/stalled condition with its
    // backoff; rollbacks asked for and not yet carried out.
    migrator.registerMigration("v4") { db in
      try db.alter(table: "deployment") { t in
        t.add(column: "rollout_step_started_at", .double)
        t.add(column: "rollout_pause_skipped", .boolean).notNull().defaults(to: false)
      }
      // When a replica first answered its health check (nil: never — it failed while starting).
      try db.alter(table: "replica") { t in t.add(column: "ready_at", .double) }
      try db.alter(table: "run") { t in
        t.add(column: "step", .integer).notNull().defaults(to: 0)
        t.add(column: "attempt", .integer).notNull().defaults(to: 1)
        t.add(column: "pid", .integer)
        t.add(column: "start_ticks", .integer)
        t.add(column: "container_id", .text)
        t.add(column: "step_deadline", .double)
        t.add(column: "next_attempt_at", .double)
        t.add(column: "error", .text)
      }
      try db.create(table: "resource_condition") { t in
        t.primaryKey("resource", .text)
        t.column("action", .text).notNull()
        t.column("state", .text).notNull()  // waiting | retrying | stalled
        t.column("reason", .text).notNull()
        t.column("attempts", .integer).notNull().defaults(to: 0)
        t.column("next_at", .double)
        t.column("since", .double).notNull()
      }
      try db.create(table: "rollback_request") { t in
        t.primaryKey("deployment", .text)
        t.column("version", .integer)
        t.column("at", .double).notNull()
      }
    }
    // Signed model versions: the SSH signature of the model's name and artifact digest.
    migrator.registerMigration("v5") { db in
      try db.alter(table: "model_version") { t in t.add(column: "signature", .text) }
    }
    // Ray: the job running a step's attempt, and the Serve application a replica stands for.
    migrator.registerMigration("v6") { db in
      try db.alter(table: "run") { t in t.add(column: "ray_job", .text) }
      try db.alter(table: "replica") { t in t.add(column: "ray_app", .text) }
    }
    return migrator
  }
}
