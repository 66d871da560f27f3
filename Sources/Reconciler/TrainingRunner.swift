import Drivers
import Foundation
import GitSource
import ModelOpsCore
import StateStore
import Synchronization

/// Runs a pipeline per the run contract (SPEC §3): a checkout of the commit, the `MODELOPS_*`
/// environment, steps in order with their timeouts and retries, the whole-run timeout, one log per
/// run; a successful run registers a version with its metrics, profile and lineage.
public struct TrainingRunner: Sendable {
  public let store: StateStore
  public let registry: any ModelRegistry
  public let repository: GitRepository
  /// `STATE/runs`: one folder per run.
  public let runsFolder: URL
  /// First retry delay; doubled on each further attempt (at most 30 s).
  public var backoff: TimeInterval = 1
  /// With the docker runtime: a pipeline with an `image` runs its steps as containers of it.
  public var docker: DockerRuntime?
  /// Host-input digests, shared with the reconciler's measurement before each plan: an input is
  /// hashed again only when its files changed, never twice for one run.
  let hostInputs = HostInputCache()

  public init(store: StateStore, registry: any ModelRegistry, repository: GitRepository, stateFolder: String) {
    self.store = store
    self.registry = registry
    self.repository = repository
    self.runsFolder = URL(fileURLWithPath: stateFolder).appendingPathComponent("runs")
  }

  public struct Outcome: Sendable {
    public var runID: String
    public var version: Int?
    public var error: String?
  }

  /// Runs the pipeline at the desired commit; never throws: a failure is the outcome's error.
  public func run(_ pipeline: Pipeline, desired: DesiredState, reason: String) -> Outcome {
    let started = Date()
    let name = pipeline.metadata.name
    let runID = "\(name)-\(Self.stamp(started))-\(UUID().uuidString.prefix(4).lowercased())"
    let folder = runsFolder.appendingPathComponent(runID)
    let log = folder.appendingPathComponent("run.log").path
    var inputDigests = desired.dvcDigests[name] ?? [:]
    for input in pipeline.spec.inputs {
      if case .hostPath(let path) = input.source, let digest = try? hostInputs.digest(path) {
        inputDigests[input.name] = digest
      }
    }
    do {
      try store.startRun(
        id: runID, pipeline: name, commit: desired.commit, specDigest: desired.specDigest(of: pipeline),
        inputDigests: inputDigests, reason: reason, at: started)
      try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
      try Data("run \(runID) of \(name): \(reason)\n".utf8).write(to: URL(fileURLWithPath: log))
      let version = try execute(
        pipeline, desired: desired, runID: runID, folder: folder, log: log, started: started,
        inputDigests: inputDigests)
      try store.finishRun(id: runID, succeeded: true, version: version, at: Date())
      return Outcome(runID: runID, version: version)
    } catch {
      Self.append(log, "run failed: \(error)\n")
      try? store.finishRun(id: runID, succeeded: false, version: nil, at: Date())
      return Outcome(runID: runID, version: nil, error: "\(error)")
    }
  }

  private func execute(
    _ pipeline: Pipeline, desired: DesiredState, runID: String, folder: URL, log: String, started: Date,
    inputDigests: [String: String]
  ) throws -> Int {
    guard let commitID = desired.commit else { throw RunError("training needs a commit; this state has none") }
    let checkout = folder.appendingPathComponent("checkout")
    let output = folder.appendingPathComponent("output")
    try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
    try repository.materialize(try repository.resolve(commitID), into: checkout.path)
    let workdir = checkout.appendingPathComponent(pipeline.spec.workdir)
    guard FileManager.default.fileExists(atPath: workdir.path) else {
      throw RunError("workdir '\(pipeline.spec.workdir)' does not exist at commit \(commitID.prefix(12))")
    }
    let paramsFile = folder.appendingPathComponent("params.json")
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    try encoder.encode(pipeline.spec.params).write(to: paramsFile)

    let layout = RunLayout(
      runID: runID, commit: commitID, pipeline: pipeline, checkout: checkout.path, output: output.path,
      params: paramsFile.path)
    let place: StepPlace
    if let docker, let image = pipeline.spec.image {
      try docker.ensureImage(image)
      place = .container(docker, image: image, layout: layout)
    } else {
      place = .host(
        workdir: workdir.path, environment: ChildEnvironment.base().merging(layout.environment()) { _, own in own })
    }

    let runDeadline = pipeline.spec.timeout.map { started.addingTimeInterval($0.timeInterval) }
    for step in pipeline.spec.steps {
      try runStep(step, retries: pipeline.spec.retries, place: place, log: log, runDeadline: runDeadline)
    }
    return try register(
      pipeline, desired: desired, runID: runID, output: output, started: started,
      inputDigests: inputDigests)
  }

  private func runStep(
    _ step: Pipeline.Step, retries: Int, place: StepPlace, log: String, runDeadline: Date?
  ) throws {
    let argv: [String]
    switch step.command {
    case .shell(let script): argv = ["/bin/sh", "-c", script]
    case .exec(let command): argv = command
    }
    var delay = backoff
    for attempt in 1...(retries + 1) {
      Self.append(log, "==> step \(step.name) (attempt \(attempt) of \(retries + 1))\n")
      var deadline = step.timeout.map { Date().addingTimeInterval($0.timeInterval) }
      if let run = runDeadline { deadline = min(deadline ?? run, run) }
      let exit: ChildProcess.Exit
      switch place {
      case .host(let workdir, let environment):
        let env = environment.merging(step.env) { _, step in step }
        exit = try ChildProcess.spawn(argv, in: workdir, environment: env, log: log).wait(until: deadline)
      case .container(let docker, let image, let layout):
        exit = try ContainerStep(docker: docker, image: image, layout: layout, step: step, attempt: attempt)
          .run(argv, log: log, until: deadline)
      }
      if exit == .code(0) { return }
      Self.append(log, "==> step \(step.name): \(exit)\n")
      if let runDeadline, Date() >= runDeadline { throw RunError("the run timed out during step '\(step.name)'") }
      guard attempt <= retries else { throw RunError("step '\(step.name)' failed: \(exit)") }
      Thread.sleep(forTimeInterval: delay)
      delay = min(delay * 2, 30)
    }
  }

  private func register(
    _ pipeline: Pipeline, desired: DesiredState, runID: String, output: URL, started: Date,
    inputDigests: [String: String]
  ) throws -> Int {
    let model = output.appendingPathComponent("model")
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: model.path, isDirectory: &isFolder), isFolder.boolValue else {
      throw RunError("every step succeeded but the run wrote no $MODELOPS_OUTPUT_DIR/model/ folder")
    }
    let metrics = try Self.metrics(output.appendingPathComponent("metrics.json"))
    let profileURL = output.appendingPathComponent("profile.json")
    var profile: Data?
    if FileManager.default.fileExists(atPath: profileURL.path) {
      let data = try Data(contentsOf: profileURL)
      guard (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else {
        throw RunError("profile.json must be a JSON object")
      }
      profile = data
    }
    let finished = Date()
    let iso = ISO8601DateFormatter()
    let lineage: [String: String] = [
      "commit": desired.commit ?? "", "pipeline": pipeline.metadata.name,
      "pipelineDigest": desired.specDigest(of: pipeline), "params": Self.json(pipeline.spec.params),
      "inputs": Self.json(inputDigests), "run": runID, "startedAt": iso.string(from: started),
      "finishedAt": iso.string(from: finished),
    ]
    return try registry.register(
      NewVersion(
        model: pipeline.spec.model, artifact: model, metrics: metrics, profile: profile, lineage: lineage,
        createdAt: finished))
  }

  /// `metrics.json`: optional; when present, a flat object of numbers.
  static func metrics(_ url: URL) throws -> [String: Double] {
    guard FileManager.default.fileExists(atPath: url.path) else { return [:] }
    guard let object = try? JSONSerialization.jsonObject(with: try Data(contentsOf: url)) as? [String: Any] else {
      throw RunError("metrics.json must be a JSON object of numbers")
    }
    var metrics: [String: Double] = [:]
    for (key, value) in object {
      guard let number = value as? NSNumber, !(value is Bool), number.doubleValue.isFinite else {
        throw RunError("metrics.json: '\(key)' is not a number")
      }
      metrics[key] = number.doubleValue
    }
    return metrics
  }

  static func json(_ map: [String: String]) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return (try? encoder.encode(map)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
  }

  static func stamp(_ date: Date) -> String {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyyMMdd-HHmmss"
    return f.string(from: date)
  }

  static func append(_ path: String, _ text: String) {
    guard let handle = FileHandle(forWritingAtPath: path) else { return }
    defer { try? handle.close() }
    _ = try? handle.seekToEnd()
    try? handle.write(contentsOf: Data(text.utf8))
  }
}

/// The content digest of a host input (file or folder), as the registry digests artifacts.
enum HostInputDigest {
  static func of(_ path: String) throws -> String {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
      throw RunError("input \(path) does not exist")
    }
    if isFolder.boolValue { return try ArtifactDigest.of(folder: URL(fileURLWithPath: path)) }
    var hasher = SHA256()
    hasher.update(try Data(contentsOf: URL(fileURLWithPath: path)))
    return hasher.hexDigest()
  }

  /// Relative path, size and modification time of every file: cheap to read, and it changes
  /// whenever the content does in practice (the digest itself is read only then).
  static func fingerprint(_ path: String) -> String? {
    let fm = FileManager.default
    func line(_ file: String, _ shown: String) -> String? {
      guard let a = try? fm.attributesOfItem(atPath: file), let size = a[.size] as? NSNumber,
        let modified = a[.modificationDate] as? Date
      else { return nil }
      return "\(shown)\0\(size)\0\(modified.timeIntervalSince1970)\n"
    }
    var isFolder: ObjCBool = false
    guard fm.fileExists(atPath: path, isDirectory: &isFolder) else { return nil }
    guard isFolder.boolValue else { return line(path, "") }
    guard let walker = fm.enumerator(atPath: path) else { return nil }
    var lines: [String] = []
    while let relative = walker.nextObject() as? String {
      if let entry = line("\(path)/\(relative)", relative) { lines.append(entry) }
    }
    return lines.sorted().joined()
  }
}

/// Host-input digests remembered by fingerprint, so a poll cycle re-reads only inputs that changed.
final class HostInputCache: Sendable {
  private let entries = Mutex<[String: (fingerprint: String, digest: String)]>([:])

  func digest(_ path: String) throws -> String {
    guard let fingerprint = HostInputDigest.fingerprint(path) else { throw RunError("input \(path) does not exist") }
    if let known = entries.withLock({ $0[path] }), known.fingerprint == fingerprint { return known.digest }
    let digest = try HostInputDigest.of(path)
    entries.withLock { $0[path] = (fingerprint, digest) }
    return digest
  }
}
