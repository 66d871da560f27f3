import Drivers
import Foundation
import GitSource
import ModelOpsCore
import StateStore
import Synchronization

/// Carries out serving actions on the process or docker runtime: rollouts by strategy, scaling,
/// self-heal, rollbacks and removal. No action waits: each starts or advances work and returns
/// what happens next; replicas starting are probed by the supervisor (`probe`), which wakes the
/// loop when one turns healthy. Every replica is recorded before its process or container starts
/// and every step of a rollout is saved, so an agent killed at any point adopts what runs and
/// carries on where it was.
///
/// The jobs are split by file: replica lifecycle (`+Replicas`), container adoption
/// (`+Adoption`), health probes (`+Health`), the routing table (`+Routes`), the rollout state
/// machine (`+Rollout`, `+Strategies`), rollbacks and scale-down (`+Rollback`); checkouts are
/// their own type.
public final class ServingExecutor: Sendable {
  let store: StateStore
  let registry: any ModelRegistry
  let processes = ProcessRuntime()
  /// The docker runtime, when the agent has an engine configured.
  let docker: DockerRuntime?
  /// The runtime of a deployment that does not name one (the agent configuration's).
  let defaultRuntime: Deployment.Runtime
  let checkouts: Checkouts
  /// The spec of a revision whose template is not the desired one.
  let specs: RevisionSpecs
  let logs: URL
  let router: (any TrafficRouter)?
  /// The monitors: a rollout's analysis reads them at each step.
  let monitors: MonitorRunner?
  let progress: ProgressSink
  /// The deployments of the last desired state applied (the supervisor probes these).
  let declared = Mutex<[String: Deployment]>([:])
  /// Whether the deployments of a desired state have been declared (routes may be published,
  /// replicas probed).
  let routable = Mutex(false)
  /// When each replica was last probed (the supervisor probes at each deployment's interval).
  let probedAt = Mutex<[String: Date]>([:])
  /// Deployments whose rollout in flight this agent has carried on (a restart resumes the rest).
  let followed = Mutex<Set<String>>([])
  /// How often the loop looks at a rollout waiting for data its analysis needs.
  let analysisPoll: TimeInterval = 0.25

  public init(
    store: StateStore, registry: any ModelRegistry, repository: GitRepository, stateFolder: String,
    router: (any TrafficRouter)? = nil, monitors: MonitorRunner? = nil, docker: DockerRuntime? = nil,
    defaultRuntime: Deployment.Runtime = .process, manifestsPath: String? = nil,
    loadOptions: LoadOptions = LoadOptions(),
    progress: @escaping ProgressSink = { _ in }
  ) {
    self.store = store
    self.registry = registry
    let state = URL(fileURLWithPath: stateFolder)
    self.checkouts = Checkouts(repository: repository, folder: state.appendingPathComponent("checkouts"))
    self.specs = RevisionSpecs(repository: repository, path: manifestsPath, options: loadOptions)
    self.logs = state.appendingPathComponent("replicas")
    self.router = router
    self.monitors = monitors
    self.docker = docker
    self.defaultRuntime = defaultRuntime
    self.progress = progress
  }

  /// Asks for a rollback of `name` (kept in the store until carried out): a rollout of it in
  /// flight rolls back at its next step; otherwise the next reconcile carries it out.
  public func requestRollback(_ name: String, toVersion: Int?) throws {
    try store.requestRollback(name, toVersion: toVersion, at: Date())
  }

  /// Scales the active revision to the declared number of replicas: extra ones stop now, missing
  /// ones start (the supervisor routes them once healthy).
  func scale(_ deployment: Deployment) throws -> StepResult {
    var record = try existingRecord(deployment.metadata.name)
    guard let active = record.active else { throw RunError("nothing is serving yet") }
    let count = deployment.spec.replicas
    let state = try ensure(deployment, active, commit: record.activeCommit, count: count, trim: true)
    record.desiredReplicas = count
    try store.saveDeployment(record)
    publishRoutes()
    return .done("\(count) replica(s) of \(active)" + (state.started > 0 ? ", \(state.started) starting" : ""))
  }

  /// Replaces replicas of the active revision that exited, turned unhealthy or were changed by
  /// hand, and stops strays of revisions neither active nor being rolled out.
  func heal(_ deployment: Deployment) throws -> StepResult {
    let name = deployment.metadata.name
    let record = try existingRecord(name)
    guard let active = record.active else { throw RunError("nothing is serving yet") }
    var stopped = 0
    // The previous revision's replicas kept for a fast rollback stay until their scale-down.
    let kept = (record.scaleDownAt ?? .distantPast) > Date() ? record.previous : nil
    for replica in try store.replicas(of: name)
    where replica.revision != active && replica.revision != record.rollout && replica.revision != kept {
      try stop(replica)
      stopped += 1
    }
    let state = try ensure(deployment, active, commit: record.activeCommit, count: deployment.spec.replicas)
    publishRoutes()
    return .done("\(state.started) replica(s) started" + (stopped > 0 ? ", \(stopped) stray replica(s) stopped" : ""))
  }

  /// Stops every replica of a deployment that left git, and forgets it.
  func remove(_ name: String) throws -> StepResult {
    let replicas = try store.replicas(of: name)
    for replica in replicas { try stop(replica) }
    try store.deleteDeployment(name)
    declared.withLock { _ = $0.removeValue(forKey: name) }
    publishRoutes()
    return .done("\(replicas.count) replica(s) stopped")
  }

  func existingRecord(_ name: String) throws -> DeploymentRecord {
    guard let record = try store.deploymentRecord(name) else { throw RunError("deployment \(name) is not running") }
    return record
  }

  /// Removes the checkouts no replica runs in and no deployment may return to.
  @discardableResult
  func pruneCheckouts() throws -> Int {
    var kept = Set(try store.replicas().compactMap(\.commit))
    for record in try store.deploymentRecords() {
      kept.formUnion([record.activeCommit, record.previousCommit, record.rolloutCommit].compactMap { $0 })
    }
    return try checkouts.prune(keeping: kept)
  }
}
