import Drivers
import Foundation
import ModelOpsCore
import StateStore

/// A run that ended during `advance`, for the events, notifications and backoff it causes.
public struct RunEnded: Sendable {
  public var runID: String
  public var pipeline: String
  public var end: RunEnd
  public var version: Int?
  public var error: String?
  /// The pipeline's spec digest the run started with (its backoff belongs to it).
  public var specDigest: String?
  /// Why the run started, and the commit it trained.
  public var reason = ""
  public var commit: String?

  init(_ run: RunProgress, _ end: RunEnd, version: Int? = nil, error: String? = nil, specDigest: String? = nil) {
    runID = run.id
    pipeline = run.pipeline
    self.end = end
    self.version = version
    self.error = error
    self.specDigest = specDigest
    reason = run.reason
    commit = run.commit
  }
}

extension TrainingRunner {
  /// Steps every run in progress as far as it goes now — never waiting for a process: a step
  /// that ended starts the next (or registers the version), one that failed is retried after its
  /// backoff or fails the run, one past its deadline is stopped. Returns the runs that ended.
  public func advance(now: Date = Date()) -> [RunEnded] {
    var ended: [RunEnded] = []
    for var run in (try? store.activeRuns()) ?? [] {
      if let end = step(&run, now: now) { ended.append(end) }
    }
    return ended
  }

  /// Launches the current step's attempt and saves where the run is.
  func launch(_ plan: RunPlan, _ run: inout RunProgress, now: Date) throws {
    let log = log(of: run.id)
    let definition = plan.steps[run.step]
    Self.append(log, "==> step \(definition.name) (attempt \(run.attempt) of \(plan.retries + 1))\n")
    progress(
      Progress(
        "  run \(run.id): step \(run.step + 1)/\(plan.steps.count) \(definition.name) started"
          + (run.attempt > 1 ? " (attempt \(run.attempt) of \(plan.retries + 1))" : ""),
        ["run": run.id, "pipeline": plan.pipeline, "step": definition.name]))
    if plan.ray != nil {
      guard let ray = rayStep(run.id) else { throw Stalled(Self.rayMissing) }
      run.rayJob = try ray.launch(plan, step: run.step, attempt: run.attempt, log: log)
    } else {
      let process = StepProcess(docker: docker, folder: folder(of: run.id), runAs: runAs)
      let started = try process.launch(plan, step: run.step, attempt: run.attempt, log: log)
      run.pid = started.pid
      run.startTicks = started.ticks
      run.container = started.container
    }
    run.nextAttemptAt = nil
    var deadline = definition.timeout.map { now.addingTimeInterval($0) }
    if let whole = plan.deadline { deadline = min(deadline ?? whole, whole) }
    run.stepDeadline = deadline
    try store.saveRunProgress(run)
    if let container = run.container, let docker { followed.follow(container, engine: docker.engine, log: log) }
  }

  /// The run's Ray steps, on the configured cluster (nil: agent.yaml has no `ray` section).
  func rayStep(_ runID: String) -> RayStep? {
    ray.map { RayStep(ray: $0, folder: folder(of: runID), logs: rayLogs) }
  }

  static let rayMissing = "agent.yaml has no 'ray' section: the run's Ray steps cannot be followed"

  /// One run: returns how it ended, or nil while it goes on.
  private func step(_ run: inout RunProgress, now: Date) -> RunEnded? {
    let log = log(of: run.id)
    var digest: String?
    do {
      let plan = try RunPlan.read(from: folder(of: run.id))
      digest = plan.lineage["pipelineDigest"]
      let process = StepProcess(docker: docker, folder: folder(of: run.id), runAs: runAs)
      while true {
        guard run.hasProcess else {
          if let next = run.nextAttemptAt, now < next { return nil }
          do {
            try launch(plan, &run, now: now)
          } catch let waiting as RunError where plan.ray != nil {
            // The cluster did not answer: submitted again later (the run's own deadline still holds).
            if let deadline = plan.deadline, now >= deadline {
              throw RunError("the run timed out before its Ray job could be submitted: \(waiting)")
            }
            Self.append(log, "==> \(waiting); submitting again in 5 s\n")
            run.nextAttemptAt = now.addingTimeInterval(5)
            try store.saveRunProgress(run)
            return nil
          }
          continue
        }
        var state =
          if let job = run.rayJob {
            rayStep(run.id)?.state(job: job, step: run.step, attempt: run.attempt, log: log, now: now)
              ?? .failed(Self.rayMissing)
          } else {
            process.state(
              pid: run.pid, ticks: run.startTicks, container: run.container, step: run.step, attempt: run.attempt)
          }
        if let killAt = stopping.due(run.id) {
          // Asked to stop for its timeout: 2 s later its whole process group is killed, whether
          // or not the step's own process ended (what it started may ignore SIGTERM).
          guard now >= killAt else { return nil }
          if let job = run.rayJob, let ray = rayStep(run.id), case .running = state {
            // A Ray job is over only once Ray says so: asked again, never left running beside a retry.
            ray.terminate(job: job)
            stopping.begin(run.id, killAt: now.addingTimeInterval(2))
            return nil
          }
          process.killGroup(pid: run.pid, ticks: run.startTicks)
          _ = stopping.end(run.id)
          state = .exited(.timedOut)
        } else if case .running = state {
          guard let deadline = run.stepDeadline, now >= deadline else { return nil }
          // Past its deadline: SIGTERM now, SIGKILL at a later look (the supervisor never waits).
          if let job = run.rayJob {
            rayStep(run.id)?.terminate(job: job)
          } else {
            process.terminate(pid: run.pid, ticks: run.startTicks, container: run.container)
          }
          stopping.begin(run.id, killAt: now.addingTimeInterval(2))
          return nil
        }
        if let container = run.container {
          process.collect(container: container, log: log, followedBytes: followed.finish(container))
        }
        let name = plan.steps[run.step].name
        let job = run.rayJob
        run.pid = nil
        run.startTicks = nil
        run.container = nil
        run.rayJob = nil
        if case .exited(.code(0)) = state {
          progress(
            Progress(
              "  run \(run.id): step \(name) succeeded", ["run": run.id, "pipeline": plan.pipeline, "step": name]))
          run.step += 1
          run.attempt = 1
          guard run.step < plan.steps.count else {
            var plan = plan
            if let job { plan.lineage["rayJob"] = job }
            return try succeed(run, plan)
          }
          continue
        }
        let exit =
          switch state {
          case .exited(let exit): exit.description
          case .failed(let why): why
          default:
            job == nil
              ? "its process ended while no agent watched it, without an exit status"
              : "the Ray cluster has no job \(job ?? "") any more"
          }
        Self.append(log, "==> step \(name): \(exit)\n")
        progress(
          Progress(
            "  run \(run.id): step \(name) failed: \(exit)"
              + (run.attempt <= plan.retries ? "; retried" : "") + " (agent logs \(run.id))", level: .warning,
            ["run": run.id, "pipeline": plan.pipeline, "step": name]))
        if let deadline = plan.deadline, now >= deadline {
          throw RunError("the run timed out during step '\(name)'")
        }
        guard run.attempt <= plan.retries else { throw RunError("step '\(name)' failed: \(exit)") }
        run.nextAttemptAt = now.addingTimeInterval(min(backoff * pow(2, Double(run.attempt - 1)), 30))
        run.attempt += 1
        try store.saveRunProgress(run)
      }
    } catch {
      Self.append(log, "run failed: \(error)\n")
      try? store.finishRun(id: run.id, .failed, error: "\(error)", at: Date())
      return RunEnded(run, .failed, error: "\(error)", specDigest: digest)
    }
  }

  private func succeed(_ run: RunProgress, _ plan: RunPlan) throws -> RunEnded {
    // A version this run already registered (an agent killed before it recorded the run's end)
    // is the run's version: registering its output again would make a second one.
    let registered = try store.versions(model: plan.model).first { $0.lineage["run"] == run.id }?.version
    let version =
      try registered ?? RunRegistration.register(plan, registry: registry, signer: signer, finished: Date())
    CrashPoint.reached("register.recorded")
    try store.finishRun(id: run.id, .succeeded, version: version, at: Date())
    Self.append(log(of: run.id), "==> registered \(plan.model) v\(version)\n")
    return RunEnded(run, .succeeded, version: version, specDigest: plan.lineage["pipelineDigest"])
  }

  /// The agent is stopping: every step still running is asked to stop (SIGTERM to all at once,
  /// SIGKILL after `grace`) and its run recorded as interrupted — the planner starts it again by
  /// its rules. Returns the runs interrupted.
  public func interruptAll(reason: String, grace: TimeInterval = 5) -> [RunEnded] {
    // A Ray job runs on the cluster, not under this agent: it goes on, and the next agent adopts it.
    let runs = ((try? store.activeRuns()) ?? []).filter { $0.hasProcess && $0.rayJob == nil }
    var ended: [RunEnded] = []
    for run in runs {
      StepProcess(docker: docker, folder: folder(of: run.id), runAs: runAs).terminate(
        pid: run.pid, ticks: run.startTicks, container: run.container)
    }
    for run in runs {
      let process = StepProcess(docker: docker, folder: folder(of: run.id), runAs: runAs)
      process.kill(pid: run.pid, ticks: run.startTicks, container: run.container, grace: grace)
      if let container = run.container {
        process.collect(container: container, log: log(of: run.id), followedBytes: followed.finish(container))
      }
      Self.append(log(of: run.id), "==> run interrupted: \(reason)\n")
      try? store.finishRun(id: run.id, .interrupted, error: reason, at: Date())
      ended.append(RunEnded(run, .interrupted, error: reason))
    }
    return ended
  }
}
