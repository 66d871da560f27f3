import Drivers
import Foundation
import ModelOpsCore

/// Everything a run needs from its start to its registration, written to `STATE/runs/<id>/run.json`
/// when it starts: the run supervisor — of this agent or of the next one, after a restart — steps
/// it from this file and the run's row in the store, never from the commit the agent now reads.
struct RunPlan: Codable, Sendable {
  struct Step: Codable, Sendable {
    var name: String
    var argv: [String]
    var env: [String: String]
    /// Seconds; nil: no step timeout.
    var timeout: Double?
  }

  /// Steps as containers of the pipeline's image (the docker runtime).
  struct Container: Codable, Sendable {
    var image: String
    var env: [String: String]
    var workingDir: String
    var binds: [Bind]
    var labels: [String: String]
  }

  /// Steps as jobs of a Ray cluster (`runtime: ray`).
  struct RayJob: Codable, Sendable {
    /// `_ray_pkg_<digest>.zip`: the workdir and the step wrapper, kept beside the plan as `package.zip`.
    var package: String
    /// The run contract's variables as they read on the node (the wrapper adds the folders).
    var env: [String: String]
    var cpus: Double?
    var gpus: Double?
    var memory: Int64?
  }

  struct Bind: Codable, Sendable {
    var host: String
    var container: String
    var readOnly: Bool
  }

  var runID: String
  var pipeline: String
  var model: String
  var steps: [Step]
  var retries: Int
  /// When the whole run times out (`spec.timeout`); nil: never.
  var deadline: Date?
  /// Host steps: where they run and with what environment (the run contract, nothing of the agent's).
  var workdir: String
  var environment: [String: String]
  var container: Container?
  var ray: RayJob?
  /// `STATE/runs/<id>/output`: what the run leaves for registration.
  var output: String
  /// Lineage recorded with the version (commit, pipeline digest, params, inputs, run, startedAt).
  var lineage: [String: String]

  static func file(in folder: URL) -> URL { folder.appendingPathComponent("run.json") }

  func write(to folder: URL) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    encoder.dateEncodingStrategy = .secondsSince1970
    try encoder.encode(self).write(to: Self.file(in: folder), options: .atomic)
  }

  static func read(from folder: URL) throws -> RunPlan {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .secondsSince1970
    do {
      return try decoder.decode(RunPlan.self, from: try Data(contentsOf: file(in: folder)))
    } catch {
      throw RunError("cannot read the run's plan \(file(in: folder).path): \(error)")
    }
  }

  /// `run:` through `/bin/sh -c`, `command:` as it is.
  static func argv(_ command: Pipeline.Step.Command) -> [String] {
    switch command {
    case .shell(let script): return ["/bin/sh", "-c", script]
    case .exec(let command): return command
    }
  }

  /// The container spec of one attempt of a step.
  func containerSpec(step: Step, attempt: Int) -> ContainerSpec? {
    guard let container else { return nil }
    var spec = ContainerSpec(name: "modelops-\(runID)-\(step.name)-\(attempt)", image: container.image)
    spec.command = step.argv
    spec.env = container.env.merging(step.env) { _, own in own }
    spec.workingDir = container.workingDir
    spec.binds = container.binds.map { .init(host: $0.host, container: $0.container, readOnly: $0.readOnly) }
    spec.labels = container.labels.merging([DockerRuntime.Label.step: step.name]) { _, own in own }
    return spec
  }
}
