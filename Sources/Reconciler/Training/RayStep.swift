import Drivers
import Foundation
import Synchronization

/// The Ray cluster training steps of `runtime: ray` pipelines run on, and where its jobs send
/// their output back (the agent's API as the nodes reach it).
public struct RayTraining: Sendable {
  public let dashboard: RayDashboard
  /// `http://HOST:PORT` of the agent's API, as the Ray nodes reach it.
  public let callback: String?
  /// How often a running job's output is read into its run's log.
  public var logInterval: TimeInterval = 1

  public init(dashboard: RayDashboard, callback: String?) {
    self.dashboard = dashboard
    self.callback = callback
  }
}

/// One attempt of one step as a Ray job: submitted under an id the agent chose (so a restarted
/// agent adopts it instead of submitting it again), looked at, its output followed into the
/// run's log, stopped. The job runs the step under a small wrapper (`RayStepWrapper`) that fetches
/// the run's output so far, runs the command, and sends the output back to the agent's API.
struct RayStep {
  let ray: RayTraining
  /// The run's folder (`STATE/runs/<id>`).
  let folder: URL
  let logs: FollowedRayLogs

  static func submissionID(run: String, step: Int, attempt: Int) -> String { "modelops-\(run)-\(step)-\(attempt)" }

  /// Submits the attempt; the submission id is returned (and recorded by the caller).
  func launch(_ plan: RunPlan, step: Int, attempt: Int, log: String) throws -> String {
    guard let job = plan.ray else { throw RunError("the run's plan has no Ray job") }
    guard let callback = ray.callback else {
      throw Stalled(
        "runtime: ray needs the agent's API reachable from the Ray nodes (api.listen, or ray.callback): "
          + "each job sends its output there")
    }
    let dashboard = ray.dashboard
    do {
      if let refusal = try dashboard.unsatisfiable(cpus: job.cpus, gpus: job.gpus, memory: job.memory) {
        throw Stalled(refusal)
      }
      // The package made when the run was prepared (its name is its digest).
      let package = try dashboard.ensurePackage(name: job.package) {
        try Data(contentsOf: folder.appendingPathComponent("package.zip"), options: .alwaysMapped)
      }
      let definition = plan.steps[step]
      let id = Self.submissionID(run: plan.runID, step: step, attempt: attempt)
      var env = job.env.merging(definition.env) { _, own in own }
      env["MODELOPS_RAY_ARGV"] = String(decoding: try JSONEncoder().encode(definition.argv), as: UTF8.self)
      env["MODELOPS_RAY_CALLBACK"] = "\(callback)/api/v1/runs/\(plan.runID)/output?step=\(step)&attempt=\(attempt)"
      env["MODELOPS_RAY_TOKEN"] = try RayOutputToken.read(in: folder)
      env["MODELOPS_RAY_FETCH"] = step > 0 ? "1" : "0"
      var submission = RayJobSubmission(
        submissionID: id, entrypoint: "python -u \(RayStepWrapper.fileName)", workingDir: package, env: env)
      submission.cpus = job.cpus
      submission.gpus = job.gpus
      submission.memory = job.memory
      submission.metadata = ["modelops.run": plan.runID, "modelops.step": definition.name]
      try dashboard.submit(submission)
      TrainingRunner.append(log, "==> Ray job \(id) submitted to \(dashboard.address)\n")
      return id
    } catch let error as RayError {
      throw error.transient ? RunError(error.description) as any Error : Stalled(error.description)
    }
  }

  /// How the attempt stands; a cluster that does not answer leaves it running (asked again later).
  func state(job id: String, step: Int, attempt: Int, log: String, now: Date) -> StepState {
    let info: RayJobInfo
    switch Result(catching: { try ray.dashboard.job(id) }) {
    case .success(let found?): info = found
    case .success(nil): return .vanished  // no such job: a cluster replaced under the agent
    case .failure: return .running  // no answer yet: asked again at the next look
    }
    if !info.finished {
      if logs.due(id, now: now, every: ray.logInterval) { follow(id, log: log) }
      return .running
    }
    // From now on no upload for this attempt is accepted: its output is what arrived.
    // (Under the swap lock: an upload being written finishes first, none starts after.)
    RayStepOutput.swapping.withLock { _ in RayOutputToken.close(in: folder, step: step, attempt: attempt) }
    follow(id, log: log)
    if let node = info.nodeID { TrainingRunner.append(log, "==> Ray job \(id) ran on node \(node)\n") }
    switch info.status {
    case .succeeded:
      guard RayOutputToken.received(in: folder, step: step, attempt: attempt) else {
        return .failed("the Ray job succeeded but its output never reached the agent at \(ray.callback ?? "?")")
      }
      return .exited(.code(0))
    case .stopped: return .exited(.timedOut)
    default:
      if let code = info.exitCode { return .exited(.code(code)) }
      return .failed("the Ray job failed: \(RayDashboard.tail(info.message, lines: 20))")
    }
  }

  /// Appends what the job printed since the last look to the run's log.
  func follow(_ id: String, log: String) {
    guard let text = try? ray.dashboard.jobLogs(id) else { return }
    let bytes = Data(text.utf8)
    let marker = folder.appendingPathComponent("status/\(id).logged")
    let written = (try? String(contentsOf: marker, encoding: .utf8)).flatMap { Int($0) } ?? 0
    guard bytes.count > written else { return }
    TrainingRunner.append(log, String(decoding: bytes.suffix(from: written), as: UTF8.self))
    try? Data("\(bytes.count)".utf8).write(to: marker, options: .atomic)
  }

  /// Asks Ray to stop the job.
  func terminate(job id: String) { try? ray.dashboard.stopJob(id) }
}

/// When each Ray job's output was last read into its log (in memory: a restarted agent reads it
/// again, from where the `.logged` marker says it stopped).
final class FollowedRayLogs: Sendable {
  private let last = Mutex<[String: Date]>([:])

  func due(_ id: String, now: Date, every interval: TimeInterval) -> Bool {
    last.withLock { last in
      if let at = last[id], now.timeIntervalSince(at) < interval { return false }
      last[id] = now
      return true
    }
  }
}
