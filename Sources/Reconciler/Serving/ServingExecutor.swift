import Drivers
import Foundation
import GitSource
import ModelOpsCore
import StateStore

/// Carries out serving actions on the process or docker runtime: rollouts by strategy, scaling,
/// self-heal, rollbacks and removal. No action waits: each starts or advances work and returns
/// what happens next; replicas starting are probed by the supervisor (`probe`), which wakes the
/// loop when one turns healthy. Every replica is recorded before its process or container starts
/// and every step of a rollout is saved, so an agent killed at any point adopts what runs and
/// carries on where it was.
///
/// One job per part: replica lifecycle (`ReplicaLifecycle`), container adoption
/// (`ContainerAdoption`), health probes (`HealthProber`), the routing table (`RoutingTable`),
/// the rollout state machine (`RolloutMachine`), checkouts (`Checkouts`). This type holds them
/// together and carries the actions that are not a rollout: scaling, healing, removal,
/// rollbacks (`+Rollback`).
public final class ServingExecutor: Sendable {
  let store: StateStore
  let registry: any ModelRegistry
  let replicas: ReplicaLifecycle
  let adoption: ContainerAdoption
  let routing: RoutingTable
  let prober: HealthProber
  let rollouts: RolloutMachine
  /// The monitors: a rollout's analysis reads them at each step.
  let monitors: MonitorRunner?
  let progress: ProgressSink

  public init(
    store: StateStore, registry: any ModelRegistry, repository: GitRepository, stateFolder: String,
    router: (any TrafficRouter)? = nil, monitors: MonitorRunner? = nil, docker: DockerRuntime? = nil,
    defaultRuntime: Deployment.Runtime = .process, manifestsPath: String? = nil,
    loadOptions: LoadOptions = LoadOptions(), runAs: RunAs? = nil, signer: VersionSigner? = nil,
    ray: RayServe? = nil, progress: @escaping ProgressSink = { _ in }
  ) {
    self.store = store
    self.registry = registry
    self.monitors = monitors
    self.progress = progress
    let state = URL(fileURLWithPath: stateFolder)
    let logs = state.appendingPathComponent("replicas")
    routing = RoutingTable(router: router, store: store, rayProxyHost: ray?.proxyHost)
    replicas = ReplicaLifecycle(
      store: store, registry: registry, docker: docker, defaultRuntime: defaultRuntime,
      checkouts: Checkouts(repository: repository, folder: state.appendingPathComponent("checkouts")),
      specs: RevisionSpecs(repository: repository, path: manifestsPath, options: loadOptions), logs: logs,
      routing: routing, runAs: runAs, signer: signer,
      rayApps: ray.map { serve in
        RayApplications(serve: serve, owner: RayApplications.owner(stateFolder: stateFolder)) {
          Set(((try? store.replicas()) ?? []).compactMap(\.rayApp))
        }
      }, progress: progress)
    adoption = ContainerAdoption(docker: docker, store: store, logs: logs, progress: progress)
    prober = HealthProber(store: store, replicas: replicas, adoption: adoption, routing: routing, progress: progress)
    rollouts = RolloutMachine(
      store: store, registry: registry, replicas: replicas, routing: routing, monitors: monitors, progress: progress)
  }

  /// The router the routing table is sent to.
  var router: (any TrafficRouter)? { routing.router }

  /// Remembers the deployments of the desired state being applied, and routes them.
  public func declare(_ deployments: [String: Deployment]) {
    // Containers are adopted before the supervisor may probe the deployments: a replica whose
    // container id was never saved is found by label, not taken for gone.
    for (name, deployment) in deployments where (deployment.spec.runtime ?? replicas.defaultRuntime) == .docker {
      try? adoption.adoptContainers(of: name)
    }
    routing.declare(deployments)
  }

  /// Sends the router the healthy replicas of every declared deployment and the traffic split.
  public func publishRoutes() { routing.publish() }

  /// Each declared deployment's route, as the router is sent it.
  public func currentRoutes() -> [String: DeploymentRoute] { routing.currentRoutes() }

  /// Checks every recorded replica once (see `HealthProber`).
  @discardableResult
  public func probe(all: Bool = false, now: Date = Date()) -> ProbeOutcome { prober.probe(all: all, now: now) }

  /// Advances the rollout of `deployment` to `target` (see `RolloutMachine`).
  func rollout(_ deployment: Deployment, to target: Revision, commit: String?, now: Date = Date()) throws
    -> StepResult
  {
    try rollouts.rollout(deployment, to: target, commit: commit, now: now)
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
    let state = try replicas.ensure(deployment, active, commit: record.activeCommit, count: count, trim: true)
    record.desiredReplicas = count
    try store.saveDeployment(record)
    routing.publish()
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
      try replicas.stop(replica)
      stopped += 1
    }
    let state = try replicas.ensure(deployment, active, commit: record.activeCommit, count: deployment.spec.replicas)
    routing.publish()
    return .done("\(state.started) replica(s) started" + (stopped > 0 ? ", \(stopped) stray replica(s) stopped" : ""))
  }

  /// Stops every replica of a deployment that left git, and forgets it.
  func remove(_ name: String) throws -> StepResult {
    let recorded = try store.replicas(of: name)
    for replica in recorded { try replicas.stop(replica) }
    try store.deleteDeployment(name)
    routing.forget(name)
    return .done("\(recorded.count) replica(s) stopped")
  }

  /// Stops a replica and forgets it.
  func stop(_ replica: ReplicaRecord) throws { try replicas.stop(replica) }

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
    return try replicas.checkouts.prune(keeping: kept)
  }
}
