import Foundation
import ModelOpsCore

/// Serving replicas as containers of a Docker engine (the `docker` runtime).
///
/// Each container is named `modelops-<replica id>` and labelled with its deployment, revision and
/// replica, so an agent that restarts (or crashed between creating a container and recording it)
/// finds its containers by label instead of starting duplicates. The version's artifact is
/// bind-mounted read-only; the replica's port inside is published on 127.0.0.1 of this host,
/// where the router and the health probes reach it.
public struct DockerRuntime: ReplicaRuntime {
  public let engine: DockerEngine
  /// Pull an image the engine does not have (`runtime.pull: missing`); otherwise that is an error.
  public let pullMissing: Bool
  /// Which agent's containers these are (`modelops.owner`): agents sharing an engine, each with
  /// its own state folder, never adopt or remove each other's.
  public let owner: String

  /// Where things are inside a container.
  public enum Paths {
    public static let model = "/modelops/model"
    public static let workspace = "/modelops/workspace"
    public static let output = "/modelops/output"
    public static let params = "/modelops/params.json"
    public static let inputs = "/modelops/inputs"
  }

  public enum Label {
    public static let owner = "modelops.owner"
    public static let deployment = "modelops.deployment"
    public static let revision = "modelops.revision"
    public static let replica = "modelops.replica"
    public static let pipeline = "modelops.pipeline"
    public static let run = "modelops.run"
    public static let step = "modelops.step"
  }

  public init(engine: DockerEngine, pullMissing: Bool = false, owner: String = "") {
    self.engine = engine
    self.pullMissing = pullMissing
    self.owner = owner
  }

  /// An owner name for a state folder: the start of its real path's digest (the same folder
  /// named through a symlink or a relative path is the same owner).
  public static func owner(stateFolder: String) -> String {
    var hasher = SHA256()
    hasher.update(Data(URL(fileURLWithPath: stateFolder).standardizedFileURL.resolvingSymlinksInPath().path.utf8))
    return String(hasher.hexDigest().prefix(12))
  }

  public func start(_ spec: ReplicaSpec) throws -> ReplicaHandle {
    guard let image = spec.image else {
      throw RunError("deployment \(spec.deployment) has no image for the docker runtime")
    }
    try ensureImage(image)
    var container = ContainerSpec(name: "modelops-\(spec.id)", image: image)
    container.env = spec.env
    container.env["PORT"] = String(spec.containerPort)
    container.env["MODELOPS_MODEL"] = spec.model
    container.env["MODELOPS_MODEL_VERSION"] = String(spec.modelVersion)
    container.env["MODELOPS_MODEL_PATH"] = Paths.model
    container.binds = [.init(host: spec.modelPath, container: Paths.model, readOnly: true)]
    if !spec.command.isEmpty {
      // The command of the deployment runs in the commit's checkout, as with the process runtime.
      container.command = spec.command
      container.binds.append(.init(host: spec.directory, container: Paths.workspace, readOnly: true))
      container.workingDir = Paths.workspace
    }
    container.labels = [
      Label.owner: owner, Label.deployment: spec.deployment, Label.revision: spec.revision, Label.replica: spec.id,
    ]
    container.publish = (spec.containerPort, spec.port)
    container.memory = spec.memoryLimit
    container.cpus = spec.cpus
    let id = try engine.create(container)
    do {
      try engine.start(id)
    } catch {
      try? engine.remove(id)
      throw error
    }
    return ReplicaHandle(.container(id: id), port: spec.port)
  }

  /// Engine unreachable counts as running: the health probes decide, rather than every replica
  /// being replaced while the engine restarts.
  public func isRunning(_ handle: ReplicaHandle) -> Bool {
    guard let id = handle.container else { return false }
    do {
      return try engine.inspect(id)?.state.running ?? false
    } catch {
      return true
    }
  }

  public func stop(_ handle: ReplicaHandle, log: String) {
    if let id = handle.container { stop(container: id, log: log) }
  }

  /// Stops and removes a container; what it wrote is kept in `log` first.
  public func stop(container id: String, log: String) {
    try? engine.stop(id, grace: 5)
    if let output = try? engine.logs(id) { try? output.write(to: URL(fileURLWithPath: log)) }
    try? engine.remove(id)
  }

  /// The container(s) of one replica (by label), whatever their state.
  public func containers(ofReplica replica: String) throws -> [ContainerSummary] {
    try engine.list(labels: [Label.owner: owner, Label.replica: replica])
  }

  /// The containers of a deployment (by label), whatever their state.
  public func containers(of deployment: String) throws -> [ContainerSummary] {
    try engine.list(labels: [Label.owner: owner, Label.deployment: deployment])
  }

  /// Checks the image is there (or pulls it when so configured).
  public func ensureImage(_ image: String) throws {
    if try engine.imageExists(image) { return }
    guard pullMissing else {
      throw RunError(
        "image \(image) is not on the docker engine at \(engine.address); the agent does not pull images "
          + "unless runtime.pull is 'missing': build or load it there first")
    }
    try engine.pull(image)
  }
}
