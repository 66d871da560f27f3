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
