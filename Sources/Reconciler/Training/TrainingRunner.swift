import Drivers
import Foundation
import GitSource
import ModelOpsCore
import StateStore

/// Starts and steps training runs per the run contract (SPEC §3) without waiting for them: `start`
/// prepares a run (checkout of the commit, params, the `MODELOPS_*` environment, its plan written
/// beside it), records it and returns; `advance` (the run supervisor, between cycles) follows each
/// step's process or container, starts the next step, applies `timeout` and `retries` with
/// backoff, and registers the version of a run that succeeded. Everything needed to resume is in
/// the store and the run's folder, so a restarted agent adopts runs whose steps still run.
public struct TrainingRunner: Sendable {
  public let store: StateStore
  public let registry: any ModelRegistry
  public let repository: GitRepository
  /// `STATE/runs`: one folder per run.
  public let runsFolder: URL
  /// First retry delay of a failed step; doubled on each further attempt (at most 30 s).
  public var backoff: TimeInterval = 1
  /// Runs at once (`training.maxConcurrentRuns`); more wait, oldest first.
  public var maxConcurrentRuns = 2
  /// With the docker runtime: a pipeline with an `image` runs its steps as containers of it.
  public var docker: DockerRuntime?
  /// Host-input digests, shared with the reconciler's measurement before each plan: an input is
  /// hashed again only when its files changed, never twice for one run.
  let hostInputs = HostInputCache()
  /// Container steps whose output is being followed into their run's log.
  let followed = FollowedContainers()
  /// Steps past their deadline that were asked to stop, and when they are killed if still running.
  let stopping = StoppingSteps()
  /// The user steps run as (nil: the agent's); it owns the run's output and status folders.
  public var runAs: RunAs?
  /// Where each step's start and end is said (the agent's log), between a run's start and its end.
  public var progress: ProgressSink = { _ in }
  /// Signs each version a run registers (`signing.key`); nil: versions are registered unsigned.
  public var signer: VersionSigner?
  /// The Ray cluster of `runtime: ray` pipelines; nil: none is configured.
  public var ray: RayTraining?
  /// When each Ray job's output was last read into its run's log.
  let rayLogs = FollowedRayLogs()

  public init(store: StateStore, registry: any ModelRegistry, repository: GitRepository, stateFolder: String) {
    self.store = store
    self.registry = registry
    self.repository = repository
    self.runsFolder = URL(fileURLWithPath: stateFolder).appendingPathComponent("runs")
  }

  func folder(of runID: String) -> URL { runsFolder.appendingPathComponent(runID) }
  func log(of runID: String) -> String { folder(of: runID).appendingPathComponent("run.log").path }

  /// Starts a run of the pipeline at the desired commit (the supervisor launches its steps); nil when
  /// `maxConcurrentRuns` runs are in progress (the run waits its turn). A run that cannot even be
  /// prepared (the commit, the workdir, the image) is recorded as failed and thrown.
  public func start(_ pipeline: Pipeline, desired: DesiredState, reason: String, now: Date = Date()) throws -> String? {
    guard try store.activeRuns().count < maxConcurrentRuns else { return nil }
    let name = pipeline.metadata.name
    let runID = "\(name)-\(Self.stamp(now))-\(UUID().uuidString.prefix(4).lowercased())"
    let folder = folder(of: runID)
    let log = log(of: runID)
    var inputDigests = desired.dvcDigests[name] ?? [:]
    for input in pipeline.spec.inputs {
      if case .hostPath(let path) = input.source, let digest = try? hostInputs.digest(path) {
        inputDigests[input.name] = digest
      }
    }
    // Prepared before it is recorded: the supervisor, which launches recorded runs' steps, never
    // sees a run without its plan.
    do {
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      try Data("run \(runID) of \(name): \(reason)\n".utf8).write(to: URL(fileURLWithPath: log))
      let plan = try prepare(pipeline, desired: desired, runID: runID, inputDigests: inputDigests, now: now)
      try plan.write(to: folder)
    } catch {
      Self.append(log, "run failed: \(error)\n")
      try store.startRun(
        id: runID, pipeline: name, commit: desired.commit, specDigest: desired.specDigest(of: pipeline),
        inputDigests: inputDigests, reason: reason, at: now)
      try store.finishRun(id: runID, .failed, error: "\(error)", at: Date())
      let message = "run \(runID) failed: \(error) (agent logs \(runID))"
      throw error is Stalled ? Stalled(message) as any Error : RunError(message)
    }
    try store.startRun(
      id: runID, pipeline: name, commit: desired.commit, specDigest: desired.specDigest(of: pipeline),
      inputDigests: inputDigests, reason: reason, at: now)
    return runID
  }

  /// Removes the folders of runs that were being prepared when an agent stopped (killed before
  /// the run was recorded, so no step of theirs ever started); returns their ids. Called at start,
  /// while the state lock is held and before any run of this agent begins.
  @discardableResult
  public func discardUnrecorded() -> [String] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: runsFolder.path)) ?? []
    var discarded: [String] = []
    for entry in entries.sorted() where !entry.hasPrefix(".") {
      // A store that cannot answer keeps the folder: only a run known to be absent is removed.
      guard case .success(nil) = Result(catching: { try store.run(id: entry) }) else { continue }
      if (try? FileManager.default.removeItem(at: folder(of: entry))) != nil { discarded.append(entry) }
    }
    return discarded
  }

  /// The checkout, output folder and params of a run, and its plan.
  private func prepare(
    _ pipeline: Pipeline, desired: DesiredState, runID: String, inputDigests: [String: String], now: Date
  ) throws -> RunPlan {
    guard let commitID = desired.commit else { throw RunError("training needs a commit; this state has none") }
    let folder = folder(of: runID)
    let checkout = folder.appendingPathComponent("checkout")
    let output = folder.appendingPathComponent("output")
    try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
    let status = folder.appendingPathComponent("status")
    try FileManager.default.createDirectory(at: status, withIntermediateDirectories: true)
    // What the steps write is theirs; the plan, params and log beside it stay the agent's.
    try runAs?.own(output.path)
    try runAs?.own(status.path)
    try repository.materialize(try repository.resolve(commitID), into: checkout.path)
    let workdir = checkout.appendingPathComponent(pipeline.spec.workdir)
    guard FileManager.default.fileExists(atPath: workdir.path) else {
      throw Stalled("workdir '\(pipeline.spec.workdir)' does not exist at commit \(commitID.prefix(12))")
    }
    let paramsFile = folder.appendingPathComponent("params.json")
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    try encoder.encode(pipeline.spec.params).write(to: paramsFile)
    let layout = RunLayout(
      runID: runID, commit: commitID, pipeline: pipeline, checkout: checkout.path, output: output.path,
      params: paramsFile.path)
    var container: RunPlan.Container?
    let runtime = pipeline.spec.runtime
    if runtime == .docker, docker == nil {
      throw Stalled(
        "pipeline \(pipeline.metadata.name) asks for the docker runtime, which this agent has not configured")
    }
    let rayJob = runtime == .ray ? try prepareRay(pipeline, layout: layout, workdir: workdir, folder: folder) : nil
    if let docker, let image = pipeline.spec.image, runtime != .process, runtime != .ray {
      do { try docker.ensureImage(image) } catch let missing as RunError { throw Stalled(missing.description) }
      container = RunPlan.Container(
        image: image, env: layout.environment(inContainer: true), workingDir: layout.containerWorkdir,
        binds: layout.binds.map { RunPlan.Bind(host: $0.host, container: $0.container, readOnly: $0.readOnly) },
        labels: [
          DockerRuntime.Label.owner: docker.owner, DockerRuntime.Label.run: runID,
          DockerRuntime.Label.pipeline: pipeline.metadata.name,
        ])
    }
    let iso = ISO8601DateFormatter()
    return RunPlan(
      runID: runID, pipeline: pipeline.metadata.name, model: pipeline.spec.model,
      steps: pipeline.spec.steps.map {
        RunPlan.Step(name: $0.name, argv: RunPlan.argv($0.command), env: $0.env, timeout: $0.timeout?.timeInterval)
      },
      retries: pipeline.spec.retries, deadline: pipeline.spec.timeout.map { now.addingTimeInterval($0.timeInterval) },
      workdir: workdir.path,
      environment: ChildEnvironment.base().merging(layout.environment()) { _, own in own }, container: container,
      ray: rayJob, output: output.path,
      lineage: [
        "commit": commitID, "pipeline": pipeline.metadata.name, "pipelineDigest": desired.specDigest(of: pipeline),
        "params": Self.json(pipeline.spec.params), "inputs": Self.json(inputDigests), "run": runID,
        "startedAt": iso.string(from: now),
      ].merging(desired.signer.map { ["signer": $0] } ?? [:]) { a, _ in a })
  }

  /// A Ray run: its token, and its workdir packed (with the step wrapper) under a content name.
  private func prepareRay(_ pipeline: Pipeline, layout: RunLayout, workdir: URL, folder: URL) throws -> RunPlan.RayJob {
    guard ray != nil else {
      throw Stalled("pipeline \(pipeline.metadata.name) asks for runtime ray, but agent.yaml has no 'ray' section")
    }
    try RayOutputToken.create(in: folder)
    let zip = try ZipArchive.write(
      folder: workdir, extra: [RayStepWrapper.fileName: Data(RayStepWrapper.source.utf8)],
      limit: 500 << 20)
    var hasher = SHA256()
    hasher.update(zip)
    try zip.write(to: folder.appendingPathComponent("package.zip"))
    let resources = pipeline.spec.resources
    return RunPlan.RayJob(
      package: "_ray_pkg_modelops_\(hasher.hexDigest().prefix(32)).zip", env: try layout.rayEnvironment(),
      cpus: resources?.cpus, gpus: resources?.gpus, memory: resources?.memory?.bytes)
  }

  static func stamp(_ date: Date) -> String {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyyMMdd-HHmmss"
    return f.string(from: date)
  }

  static func json(_ map: [String: String]) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return (try? encoder.encode(map)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
  }

  static func append(_ path: String, _ text: String) {
    guard let handle = FileHandle(forWritingAtPath: path) else { return }
    defer { try? handle.close() }
    _ = try? handle.seekToEnd()
    try? handle.write(contentsOf: Data(text.utf8))
  }
}
