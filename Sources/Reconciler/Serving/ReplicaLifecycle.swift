import Drivers
import Foundation
import ModelOpsCore
import StateStore

/// How many replicas of a revision serve, and how many are still starting.
struct ReplicaCount: Sendable {
  var ready = 0
  var starting = 0
  /// Started by this call.
  var started = 0
}

/// Starts, counts and stops the replicas of revisions, on the process runtime or the docker
/// one. Each replica is recorded before its process or container starts: an agent killed in
/// between leaves a row to clean, never an orphan. Health is the prober's job; this type only
/// reads what the prober recorded.
final class ReplicaLifecycle: Sendable {
  let store: StateStore
  let registry: any ModelRegistry
  let processes: ProcessRuntime
  /// The docker runtime, when the agent has an engine configured.
  let docker: DockerRuntime?
  /// The runtime of a deployment that does not name one (the agent configuration's).
  let defaultRuntime: Deployment.Runtime
  let checkouts: Checkouts
  /// The spec of a revision whose template is not the desired one.
  let specs: RevisionSpecs
  /// Where each replica's log goes (`<replica id>.log`).
  let logs: URL
  /// The routes a replica leaves before it is stopped.
  let routing: RoutingTable
  /// Checks a version's signature before a replica of it starts (`signing`).
  let signer: VersionSigner?
  /// The Serve applications of `runtime: ray` revisions; nil: no Ray cluster is configured.
  let rayApps: RayApplications?
  let progress: ProgressSink

  init(
    store: StateStore, registry: any ModelRegistry, docker: DockerRuntime?, defaultRuntime: Deployment.Runtime,
    checkouts: Checkouts, specs: RevisionSpecs, logs: URL, routing: RoutingTable, runAs: RunAs? = nil,
    signer: VersionSigner? = nil, rayApps: RayApplications? = nil, progress: @escaping ProgressSink
  ) {
    self.signer = signer
    self.rayApps = rayApps
    self.processes = ProcessRuntime(runAs: runAs)
    self.store = store
    self.routing = routing
    self.registry = registry
    self.docker = docker
    self.defaultRuntime = defaultRuntime
    self.checkouts = checkouts
    self.specs = specs
    self.logs = logs
    self.progress = progress
  }

  /// Brings the live replicas of `revision` to `count` (more when `trim` is false) without
  /// waiting: exited, unhealthy or altered ones are stopped, missing ones started; the supervisor
  /// probes the starting ones. A replica that failed while starting (it never answered its health
  /// check) is stopped and reported as an error, so a crashing revision fails (a rollout rolls
  /// back, a heal backs off) instead of being restarted in a loop.
  @discardableResult
  func ensure(
    _ deployment: Deployment, _ revision: Revision, commit: String?, count: Int, trim: Bool = false
  ) throws -> ReplicaCount {
    let name = deployment.metadata.name
    var mine: [ReplicaRecord] = []
    var failedToStart: [String] = []
    for replica in try store.replicas(of: name) where replica.revision == revision {
      let broken = [.exited, .unhealthy, .altered].contains(replica.health) || !isAlive(replica)
      guard broken else {
        mine.append(replica)
        continue
      }
      // A Serve application the cluster could not be reached to deploy is not the revision's
      // fault: the rollout waits (retried with backoff) rather than fails.
      let unreachable = replica.rayApp.flatMap { rayApps?.deployFailure(of: $0) }.flatMap { $0.transient ? $0 : nil }
      // An application this agent never wrote (the previous agent stopped before its deploy ran)
      // is deployed again, not taken for a revision that failed.
      let neverWritten =
        replica.rayApp.map { app in
          rayApps?.deployed(app) == nil && rayApps?.deployFailure(of: app) == nil && replica.health == .exited
        } ?? false
      if replica.readyAt == nil, replica.health != .altered, unreachable == nil, !neverWritten {
        failedToStart.append(startFailure(replica, deployment))
      }
      try stop(replica)
      if let unreachable { throw Unreachable(unreachable.description) }
    }
    if let failure = failedToStart.first { throw RunError(failure) }
    if trim, mine.count > count {
      for replica in mine.suffix(mine.count - count) { try stop(replica) }
      mine.removeLast(mine.count - count)
    }
    var state = ReplicaCount()
    state.ready = mine.filter { $0.health == .healthy }.count
    state.starting = mine.count - state.ready
    let missing = max(0, count - mine.count)
    guard missing > 0 else { return state }
    guard let commit else { throw RunError("the commit of revision \(revision) is not recorded") }
    try checkSignature(deployment.spec.model.model, revision.modelVersion)
    let folder = try checkouts.folder(of: commit)
    let modelPath = try registry.servingFolder(model: deployment.spec.model.model, version: revision.modelVersion)
    let spec = try specs.spec(of: deployment, at: revision, commit: commit)
    for _ in 0..<missing {
      try startReplica(spec, revision, commit: commit, folder: folder, modelPath: modelPath)
      state.started += 1
      state.starting += 1
    }
    return state
  }

  /// Under `signing`, a replica starts only for a version whose artifact still has its recorded
  /// digest and whose signature verifies (with `requireSigned`, one that has a signature): else a
  /// person must act (stalled). A check that could not be made now is retried.
  private func checkSignature(_ model: String, _ version: Int) throws {
    guard let signer else { return }
    guard let record = try store.versions(model: model).first(where: { $0.version == version }) else {
      throw Stalled("v\(version) of \(model) is not recorded: it is not served")
    }
    let checked = signer.check(
      model: model, version: version, run: record.lineage["run"], digest: record.artifactDigest,
      signature: record.signature)
    if case .failure(let refused) = checked {
      if refused.transient { throw RunError("\(refused)") }
      throw Stalled("\(refused): it is not served")
    }
    // The bytes served are the ones signed for: hashed again for each replica under `signing`.
    guard try registry.verify(model: model, version: version) else {
      throw Stalled("the artifact of \(model) v\(version) no longer matches its signed digest: it is not served")
    }
  }

  /// Why a replica that never turned healthy is gone: it exited, or outlived its startup timeout.
  private func startFailure(_ replica: ReplicaRecord, _ deployment: Deployment) -> String {
    if let app = replica.rayApp {
      if let message = rayApps?.message(of: app) { return "Serve application \(app) failed to deploy:\n\(message)" }
      if replica.health == .unhealthy {
        let seconds = Int(deployment.spec.health.startupTimeout.timeInterval)
        return "Serve application \(app) was not RUNNING within \(seconds)s"
      }
      return "Serve application \(app) left the cluster while it was starting"
    }
    let log = logs.appendingPathComponent("\(replica.id).log").path
    if replica.health == .unhealthy {
      let health = deployment.spec.health
      return "replica \(replica.id) did not answer \(health.path) with 2xx within "
        + "\(Int(health.startupTimeout.timeInterval))s (see \(log))"
    }
    return "replica \(replica.id) exited while starting (see \(log))"
  }

  private func startReplica(
    _ deployment: Deployment, _ revision: Revision, commit: String, folder: URL, modelPath: URL
  ) throws {
    let name = deployment.metadata.name
    let spec = deployment.spec
    if (spec.runtime ?? defaultRuntime) == .ray {
      return try startApplication(deployment, revision, commit: commit, folder: folder, modelPath: modelPath)
    }
    let runtime = try runtime(for: deployment)
    let command = spec.command ?? []
    if runtime is ProcessRuntime, command.isEmpty {
      throw Stalled("deployment \(name) has no command for the process runtime")
    }
    let suffix = UUID().uuidString.prefix(6).lowercased()
    var replica = ReplicaRecord(
      id: "\(name)-v\(revision.modelVersion)-\(suffix)", deployment: name, revision: revision, commit: commit,
      health: .starting, startedAt: Date())
    replica.port = try FreePort.pick()
    // Recorded before the process exists: a crash in between leaves a row to clean, never an orphan.
    try store.saveReplica(replica)
    try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
    var replicaSpec = ReplicaSpec(
      deployment: name, id: replica.id, command: command, directory: folder.path, env: spec.env,
      port: replica.port ?? 0, model: spec.model.model, modelVersion: revision.modelVersion,
      modelPath: modelPath.path, memoryLimit: spec.resources.memory.map { $0.bytes },
      log: logs.appendingPathComponent("\(replica.id).log").path)
    replicaSpec.revision = "v\(revision.modelVersion)/\(revision.template)"
    replicaSpec.image = spec.image
    replicaSpec.containerPort = spec.port
    replicaSpec.cpus = spec.resources.cpus
    do {
      let handle = try runtime.start(replicaSpec)
      switch handle.identity {
      case .process(let pid, let startTime):
        replica.pid = pid
        replica.startTicks = startTime
      case .container(let id):
        replica.container = id
      }
      try store.saveReplica(replica)
    } catch {
      try? store.deleteReplica(replica.id)
      throw error
    }
    let identity = replica.container.map { "container \($0.prefix(12))" } ?? "pid \(replica.pid ?? 0)"
    progress(
      Progress(
        "  started replica \(replica.id) (\(identity), port \(replica.port ?? 0))",
        ["deployment": name, "revision": "\(revision)", "replica": replica.id]))
  }

  /// A `runtime: ray` revision's one replica: its Serve application, recorded before it is deployed.
  private func startApplication(
    _ deployment: Deployment, _ revision: Revision, commit: String, folder: URL, modelPath: URL
  ) throws {
    let name = deployment.metadata.name
    guard let rayApps else {
      throw Stalled("deployment \(name) asks for runtime ray, but agent.yaml has no 'ray' section")
    }
    let suffix = UUID().uuidString.prefix(6).lowercased()
    var replica = ReplicaRecord(
      id: "\(name)-v\(revision.modelVersion)-\(suffix)", deployment: name, revision: revision, commit: commit,
      health: .starting, startedAt: Date())
    replica.port = rayApps.serve.proxyPort
    let app = rayApps.name(deployment: name, revision: revision)
    replica.rayApp = app
    rayApps.reserve(app)
    do {
      try store.saveReplica(replica)
      try rayApps.start(deployment, revision, replica: replica.id, checkout: folder, modelPath: modelPath)
    } catch {
      rayApps.release(app)
      try? store.deleteReplica(replica.id)
      throw error
    }
    progress(
      Progress(
        "  deploying Serve application \(replica.rayApp ?? "") for replica \(replica.id) on \(rayApps.serve.dashboard.address)",
        ["deployment": name, "revision": "\(revision)", "replica": replica.id]))
  }

  func isAlive(_ replica: ReplicaRecord) -> Bool {
    if let app = replica.rayApp { return rayApps?.isPresent(app) ?? false }
    guard let (runtime, handle) = handle(replica) else { return false }
    return runtime.isRunning(handle)
  }

  /// The replica's process or container, and the runtime it runs on; nil before it was started.
  func handle(_ replica: ReplicaRecord) -> (any ReplicaRuntime, ReplicaHandle)? {
    guard let port = replica.port else { return nil }
    if let container = replica.container {
      guard let docker else { return nil }
      return (docker, ReplicaHandle(.container(id: container), port: port))
    }
    guard let pid = replica.pid, let ticks = replica.startTicks else { return nil }
    return (processes, ReplicaHandle(.process(pid: pid, startTime: ticks), port: port))
  }

  /// The runtime a deployment's new replicas start on.
  private func runtime(for deployment: Deployment) throws -> any ReplicaRuntime {
    switch deployment.spec.runtime ?? defaultRuntime {
    case .process: return processes
    case .docker:
      guard let docker else {
        throw Stalled(
          "deployment \(deployment.metadata.name) asks for the docker runtime, which this agent has not configured")
      }
      return docker
    case .ray:
      throw Stalled("deployment \(deployment.metadata.name): runtime ray has no process or container")
    }
  }

  /// Stops the replica's process or container (if it is still the one started) and forgets it.
  func stop(_ replica: ReplicaRecord) throws {
    let log = logs.appendingPathComponent("\(replica.id).log").path
    if replica.health == .healthy {
      // Out of the routes before it stops: no request is sent to a replica being stopped (or
      // found dead by this call before the prober saw it).
      _ = try store.updateReplicaHealth(replica.id, health: .exited, failures: replica.failures)
      routing.publish()
    }
    if let app = replica.rayApp {
      // Queued: a cluster that cannot be told now is told at a later look.
      rayApps?.stop(app)
    } else if let (runtime, handle) = handle(replica) {
      runtime.stop(handle, log: log)
    } else if let docker, let found = try? docker.containers(ofReplica: replica.id) {
      // Recorded, but the agent stopped before it recorded the container it created.
      for container in found { docker.stop(container: container.id, log: log) }
    }
    try store.deleteReplica(replica.id)
  }
}
