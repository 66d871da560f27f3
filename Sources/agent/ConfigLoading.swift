import Drivers
import Foundation
import ModelOpsCore
import StateStore

/// Finds and reads `agent.yaml`: `--config`, else `./agent.yaml`, else `/etc/modelops/agent.yaml`.
enum ConfigLoading {
  /// The configuration, nil when none exists and none was asked for. The secrets it names in the
  /// environment are sealed (`SecretEnvironment`).
  static func load(explicit: String?) throws -> AgentConfig? {
    let candidates = explicit.map { [$0] } ?? ["agent.yaml", "/etc/modelops/agent.yaml"]
    guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
      if let explicit { throw CommandFailure("no configuration file at \(explicit)") }
      return nil
    }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw CommandFailure("cannot read the configuration file \(path)")
    }
    switch AgentConfig.parse(Array(data), path: path) {
    case .success(let config):
      // From here on the secrets are the agent's alone: no process it starts finds them.
      SecretEnvironment.seal(config.secretVariables)
      return config
    case .failure(let error): throw CommandFailure(error.description)
    }
  }
}

/// A failure the user must act on: printed as `error: …`, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

extension AgentConfig.Registry {
  /// The registry driver the configuration names.
  func driver(store: StateStore, folder: String) -> any ModelRegistry {
    switch self {
    case .builtin: return BuiltinRegistry(store: store, folder: folder)
    case .mlflow(let url): return MLflowRegistry(url: url, store: store, folder: folder)
    }
  }
}

extension AgentConfig.Runtime {
  /// The engine of deployments on the docker runtime: the configured one, else Docker's default
  /// socket (contacted only when a deployment asks for `runtime: docker`).
  func docker(stateFolder: String) -> DockerRuntime {
    let owner = DockerRuntime.owner(stateFolder: stateFolder)
    guard case .docker(let settings) = self else {
      return DockerRuntime(engine: DockerEngine(address: AgentConfig.Docker().socket), owner: owner)
    }
    let tls =
      settings.socket.hasPrefix("tcp://") && (settings.tlsCA != nil || settings.tlsCertificate != nil)
      ? TLSFiles(ca: settings.tlsCA, certificate: settings.tlsCertificate, key: settings.tlsKey) : nil
    return DockerRuntime(
      engine: DockerEngine(address: settings.socket, tls: tls), pullMissing: settings.pullMissing, owner: owner)
  }

  /// Where a deployment that does not name a runtime runs.
  var deploymentDefault: Deployment.Runtime {
    if case .docker = self { return .docker }
    return .process
  }

  /// Training steps run as containers (of a pipeline's `image`) with the docker runtime only.
  func training(stateFolder: String) -> DockerRuntime? {
    if case .docker = self { return docker(stateFolder: stateFolder) }
    return nil
  }
}

extension LoadOptions {
  /// Loading for an agent with this configuration: deployments must suit its runtime.
  static func agent(_ configuration: AgentConfig?) -> LoadOptions {
    var options = LoadOptions()
    options.defaultRuntime = configuration?.runtime.deploymentDefault
    options.rayConfigured = configuration.map { $0.ray != nil }
    return options
  }
}
