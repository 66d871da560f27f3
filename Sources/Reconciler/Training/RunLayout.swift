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

  /// The run contract as a Ray job reads it on its node: the working_dir is the workdir, so a
  /// DVC input is named relative to it (one outside it is not shipped); the wrapper adds the
  /// output folder and the params file (`MODELOPS_PARAMS_JSON` carries the params).
  func rayEnvironment() throws -> [String: String] {
    var environment = environment()
    environment["MODELOPS_OUTPUT_DIR"] = nil
    environment["MODELOPS_PARAMS"] = nil
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    environment["MODELOPS_PARAMS_JSON"] = String(decoding: try encoder.encode(pipeline.spec.params), as: UTF8.self)
    let workdir = pipeline.spec.workdir == "." ? "" : pipeline.spec.workdir + "/"
    for input in pipeline.spec.inputs {
      guard case .dvc(let pointer) = input.source else { continue }
      let tracked = String(pointer.dropLast(".dvc".count))
      guard tracked.hasPrefix(workdir) else {
        throw Stalled(
          "input '\(input.name)' (\(tracked)) is outside spec.workdir '\(pipeline.spec.workdir)', "
            + "which is all a Ray job receives")
      }
      environment[Pipeline.inputVariable(input.name)] = String(tracked.dropFirst(workdir.count))
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
