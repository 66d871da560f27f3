import Drivers
import Foundation
import ModelOpsCore

/// The folders of one training run and the `MODELOPS_*` environment that names them, as seen on
/// the host or from inside a step's container (where the run's folders are bind-mounted).
struct RunLayout: Sendable {
  var runID: String
  var commit: String
  var pipeline: Pipeline
  var checkout: String
  var output: String
  var params: String

  typealias Paths = DockerRuntime.Paths

  /// The run contract's environment (SPEC §3), with paths on the host or in a container.
  func environment(inContainer: Bool = false) -> [String: String] {
    var environment = [
      "MODELOPS_RUN_ID": runID, "MODELOPS_COMMIT": commit, "MODELOPS_PIPELINE": pipeline.metadata.name,
      "MODELOPS_MODEL": pipeline.spec.model, "MODELOPS_OUTPUT_DIR": inContainer ? Paths.output : output,
      "MODELOPS_PARAMS": inContainer ? Paths.params : params,
    ]
    for (key, value) in pipeline.spec.params { environment[Pipeline.paramVariable(key)] = value }
    for input in pipeline.spec.inputs {
      switch input.source {
      case .hostPath(let host):
        environment[Pipeline.inputVariable(input.name)] = inContainer ? "\(Paths.inputs)/\(input.name)" : host
      case .dvc(let pointer):
        let tracked = String(pointer.dropLast(".dvc".count))
        environment[Pipeline.inputVariable(input.name)] = "\(inContainer ? Paths.workspace : checkout)/\(tracked)"
      }
    }
    return environment
  }

  /// The checkout and the output folder writable, params and host inputs read-only.
  var binds: [ContainerSpec.Bind] {
    var binds: [ContainerSpec.Bind] = [
      .init(host: checkout, container: Paths.workspace, readOnly: false),
      .init(host: output, container: Paths.output, readOnly: false),
      .init(host: params, container: Paths.params, readOnly: true),
    ]
    for input in pipeline.spec.inputs {
      if case .hostPath(let host) = input.source {
        binds.append(.init(host: host, container: "\(Paths.inputs)/\(input.name)", readOnly: true))
      }
    }
    return binds
  }

  var containerWorkdir: String {
    pipeline.spec.workdir.isEmpty || pipeline.spec.workdir == "."
      ? Paths.workspace : "\(Paths.workspace)/\(pipeline.spec.workdir)"
  }
}

/// Where a run's steps execute.
enum StepPlace: Sendable {
  /// Child processes of the agent, in the checkout's workdir.
  case host(workdir: String, environment: [String: String])
  /// Containers of the pipeline's image (the docker runtime).
  case container(DockerRuntime, image: String, layout: RunLayout)
}

/// One attempt of one step as a container: created with the run's folders mounted, its output
/// followed into the run's log until it exits or the deadline passes (then stopped), removed.
struct ContainerStep {
  let docker: DockerRuntime
  let image: String
  let layout: RunLayout
  let step: Pipeline.Step
  let attempt: Int

  func run(_ argv: [String], log: String, until deadline: Date?) throws -> ChildProcess.Exit {
    let engine = docker.engine
    var spec = ContainerSpec(name: "modelops-\(layout.runID)-\(step.name)-\(attempt)", image: image)
    spec.command = argv
    spec.env = layout.environment(inContainer: true).merging(step.env) { _, step in step }
    spec.workingDir = layout.containerWorkdir
    spec.binds = layout.binds
    spec.labels = [
      DockerRuntime.Label.owner: docker.owner, DockerRuntime.Label.run: layout.runID,
      DockerRuntime.Label.step: step.name, DockerRuntime.Label.pipeline: layout.pipeline.metadata.name,
    ]
    let id = try engine.create(spec)
    defer { try? engine.remove(id) }
    try engine.start(id)
    // The step's output goes to the run's log as it is written, as a process step's does.
    guard let writer = FileHandle(forWritingAtPath: log) else { throw RunError("cannot write \(log)") }
    defer { try? writer.close() }
    _ = try? writer.seekToEnd()
    let ended = try engine.followLogs(id, until: deadline) { try? writer.write(contentsOf: $0) }
    // The followed output ends when the container does; `wait` then only reads its exit code.
    let code = ended ? try engine.wait(id, until: deadline) : nil
    if code == nil { try? engine.stop(id, grace: 2) }
    guard let code else { return .timedOut }
    if code != 0, (try? engine.inspect(id))??.state.oomKilled == true {
      TrainingRunner.append(log, "==> step \(step.name): the container ran out of memory\n")
    }
    return .code(Int32(truncatingIfNeeded: code))
  }
}
