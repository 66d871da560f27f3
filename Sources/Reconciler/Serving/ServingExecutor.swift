import Drivers
import Foundation
import GitSource
import ModelOpsCore
import StateStore
import Synchronization

/// A rollout stopped between steps because the agent is shutting down; it resumes on the next start.
struct Interrupted: Error {}

/// Carries out serving actions on the process or docker runtime: rollouts by strategy, scaling,
/// self-heal, rollbacks and removal. Every replica is recorded before its process or container
/// starts and every step of a rollout is saved, so an agent killed at any point adopts what runs
/// and carries on.
public final class ServingExecutor: Sendable {
  let store: StateStore
  let registry: any ModelRegistry
  let repository: GitRepository
  let processes = ProcessRuntime()
  /// The docker runtime, when the agent has an engine configured.
  let docker: DockerRuntime?
  /// The runtime of a deployment that does not name one (the agent configuration's).
  let defaultRuntime: Deployment.Runtime
  let checkouts: URL
  let logs: URL
  let router: (any TrafficRouter)?
  /// The scrape monitors: a rollout's analysis reads them between steps.
  let monitors: MonitorRunner?
  let progress: @Sendable (String) -> Void
  /// True once the agent is shutting down: waits and pauses stop at the next step boundary.
  let shouldStop: @Sendable () -> Bool
  /// The deployments of the last desired state applied (the supervisor probes these).
  let declared = Mutex<[String: Deployment]>([:])
  /// When each replica was last probed (the supervisor probes at each deployment's interval).
  let probedAt = Mutex<[String: Date]>([:])
  /// The starting replicas this executor is waiting for (the rest are probed by the supervisor).
  let awaiting = Mutex<Set<String>>([])
  /// How often a starting replica is polled.
  let startupPoll: TimeInterval = 0.2
  /// Rollbacks asked for (`agent rollback`, the API), by deployment, with the version to go to.
  let rollbackRequests = Mutex<[String: Int?]>([:])

  public init(
    store: StateStore, registry: any ModelRegistry, repository: GitRepository, stateFolder: String,
    router: (any TrafficRouter)? = nil, monitors: MonitorRunner? = nil, docker: DockerRuntime? = nil,
    defaultRuntime: Deployment.Runtime = .process, progress: @escaping @Sendable (String) -> Void = { _ in },
    shouldStop: @escaping @Sendable () -> Bool = { false }
  ) {
    self.store = store
    self.registry = registry
    self.repository = repository
    let state = URL(fileURLWithPath: stateFolder)
    self.checkouts = state.appendingPathComponent("checkouts")
    self.logs = state.appendingPathComponent("replicas")
    self.router = router
    self.monitors = monitors
    self.docker = docker
    self.defaultRuntime = defaultRuntime
    self.progress = progress
    self.shouldStop = shouldStop
  }

  // MARK: Actions

  /// Asks for a rollback of `name`: a rollout of it in flight stops at its next step and rolls
  /// back; otherwise the next reconcile carries it out.
  public func requestRollback(_ name: String, toVersion: Int?) {
    rollbackRequests.withLock { $0[name] = .some(toVersion) }
  }

  /// The rollbacks asked for, emptied.
  func takeRollbackRequests() -> [String: Int?] {
    rollbackRequests.withLock { requests in
      defer { requests.removeAll() }
      return requests
    }
  }

  /// Throws when the agent is stopping, a rollback of `name` was asked for, or (given the
  /// version being rolled out) one of the deployment's analysis monitors fires on it.
  func checkpoint(_ name: String, analysing version: Int? = nil) throws {
    if shouldStop() { throw Interrupted() }
    if rollbackRequests.withLock({ $0[name] != nil }) {
      throw RunError("a rollback was requested (agent rollback)")
    }
    guard let version, let monitors else { return }
    let analysis = declared.withLock { $0[name]?.spec.analysis.monitors } ?? []
    if let failure = monitors.analysisFailure(monitors: analysis, version: version) { throw failure }
  }

  /// Scales the active revision to the declared number of replicas.
  func scale(_ deployment: Deployment) throws -> String {
    var record = try existingRecord(deployment.metadata.name)
    guard let active = record.active else { throw RunError("nothing is serving yet") }
    try ensure(deployment, active, commit: record.activeCommit, count: deployment.spec.replicas, trim: true)
    record.desiredReplicas = deployment.spec.replicas
    try store.saveDeployment(record)
    publishRoutes()
    return "\(deployment.spec.replicas) replica(s) of \(active)"
  }

  /// Replaces replicas of the active revision that exited, turned unhealthy or were changed by
  /// hand, and stops strays of revisions neither active nor being rolled out.
  func heal(_ deployment: Deployment) throws -> String {
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
    let started = try ensure(deployment, active, commit: record.activeCommit, count: deployment.spec.replicas)
    publishRoutes()
    return "\(started) replica(s) started" + (stopped > 0 ? ", \(stopped) stray replica(s) stopped" : "")
  }

  /// Stops every replica of a deployment that left git, and forgets it.
  func remove(_ name: String) throws -> String {
    let replicas = try store.replicas(of: name)
    for replica in replicas { try stop(replica) }
    try store.deleteDeployment(name)
    declared.withLock { _ = $0.removeValue(forKey: name) }
    publishRoutes()
    return "\(replicas.count) replica(s) stopped"
  }

  private func existingRecord(_ name: String) throws -> DeploymentRecord {
    guard let record = try store.deploymentRecord(name) else { throw RunError("deployment \(name) is not running") }
    return record
  }

  // MARK: Replicas

  /// Brings the live replicas of `revision` to `count` (more when `trim` is false): dead or
  /// unhealthy ones are stopped and replaced, new ones started, and all waited for until healthy.
  /// Returns how many were started.
  @discardableResult
  func ensure(
    _ deployment: Deployment, _ revision: Revision, commit: String?, count: Int, trim: Bool = false,
    deadline: Date? = nil
  ) throws -> Int {
    let name = deployment.metadata.name
    var mine: [ReplicaRecord] = []
    for replica in try store.replicas(of: name) where replica.revision == revision {
      if [.exited, .unhealthy, .altered].contains(replica.health) || !isAlive(replica) {
        try stop(replica)
      } else {
        mine.append(replica)
      }
    }
    if trim, mine.count > count {
      for replica in mine.suffix(mine.count - count) { try stop(replica) }
      mine.removeLast(mine.count - count)
    }
    // The starting replicas this call waits for are its own: the supervisor leaves them alone
    // (it would route one before the others, and before the rollout step, were it to probe them).
    var claimed = mine.filter { $0.health == .starting }.map(\.id)
    awaiting.withLock { $0.formUnion(claimed) }
    defer { awaiting.withLock { $0.subtract(claimed) } }
    let missing = max(0, count - mine.count)
    var started: [ReplicaRecord] = []
    if missing > 0 {
      guard let commit else { throw RunError("the commit of revision \(revision) is not recorded") }
      let folder = try checkout(commit)
      let modelPath = try registry.servingFolder(model: deployment.spec.model.model, version: revision.modelVersion)
      for _ in 0..<missing {
        let replica = try startReplica(deployment, revision, commit: commit, folder: folder, modelPath: modelPath)
        started.append(replica)
        claimed.append(replica.id)
      }
    }
    for replica in (mine + started) where replica.health == .starting {
      do {
        try awaitHealthy(replica, deployment, deadline: deadline)
      } catch let error as Interrupted {
        throw error
      } catch {
        for other in started { try? stop(other) }
        throw error
      }
    }
    if !started.isEmpty { publishRoutes() }
    return started.count
  }

  private func startReplica(
    _ deployment: Deployment, _ revision: Revision, commit: String, folder: URL, modelPath: URL
  ) throws -> ReplicaRecord {
    let name = deployment.metadata.name
    let spec = deployment.spec
    let runtime = try runtime(for: deployment)
    let command = spec.command ?? []
    if runtime is ProcessRuntime, command.isEmpty {
      throw RunError("deployment \(name) has no command for the process runtime")
    }
    let suffix = UUID().uuidString.prefix(6).lowercased()
    var replica = ReplicaRecord(
      id: "\(name)-v\(revision.modelVersion)-\(suffix)", deployment: name, revision: revision, commit: commit,
      health: .starting, startedAt: Date())
    replica.port = try FreePort.pick()
    // Recorded before the process exists: a crash in between leaves a row to clean, never an orphan.
    // Claimed first, so the supervisor never probes it as a replica nobody waits for.
    awaiting.withLock { _ = $0.insert(replica.id) }
    do {
      try store.saveReplica(replica)
    } catch {
      awaiting.withLock { _ = $0.remove(replica.id) }
      throw error
    }
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
      awaiting.withLock { _ = $0.remove(replica.id) }
      throw error
    }
    let identity = replica.container.map { "container \($0.prefix(12))" } ?? "pid \(replica.pid ?? 0)"
    progress("  started replica \(replica.id) (\(identity), port \(replica.port ?? 0))")
    return replica
  }

  /// Polls a starting replica until it answers its health path, exits, or runs out of time
  /// (`health.startupTimeout`, or the rollout's progress deadline when that comes first).
  private func awaitHealthy(_ replica: ReplicaRecord, _ deployment: Deployment, deadline: Date?) throws {
    let health = deployment.spec.health
    var until = Date().addingTimeInterval(health.startupTimeout.timeInterval)
    if let deadline, deadline < until { until = deadline }
    let log = logs.appendingPathComponent("\(replica.id).log").path
    while true {
      try checkpoint(replica.deployment, analysing: replica.revision.modelVersion)
      guard isAlive(replica) else {
        try stop(replica)
        throw RunError("replica \(replica.id) exited while starting (see \(log))")
      }
      if let port = replica.port, HealthProbe.check(port: port, path: health.path, timeout: health.timeout.timeInterval)
      {
        try store.updateReplicaHealth(replica.id, health: .healthy, failures: 0)
        probedAt.withLock { $0[replica.id] = Date() }
        return
      }
      if Date() >= until {
        try stop(replica)
        throw RunError(
          "replica \(replica.id) did not answer \(health.path) with 2xx within "
            + "\(Int(max(0, until.timeIntervalSince(replica.startedAt))))s (see \(log))")
      }
      Thread.sleep(forTimeInterval: startupPoll)
    }
  }

  func isAlive(_ replica: ReplicaRecord) -> Bool {
    guard let (runtime, handle) = handle(replica) else { return false }
    return runtime.isRunning(handle)
  }

  /// The replica's process or container, and the runtime it runs on; nil before it was started.
  private func handle(_ replica: ReplicaRecord) -> (any ReplicaRuntime, ReplicaHandle)? {
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
        throw RunError(
          "deployment \(deployment.metadata.name) asks for the docker runtime, which this agent has not configured")
      }
      return docker
    }
  }

  /// Stops the replica's process or container (if it is still the one started) and forgets it.
  func stop(_ replica: ReplicaRecord) throws {
    let log = logs.appendingPathComponent("\(replica.id).log").path
    if let (runtime, handle) = handle(replica) {
      runtime.stop(handle, log: log)
    } else if let docker, let found = try? docker.containers(ofReplica: replica.id) {
      // Recorded, but the agent stopped before it recorded the container it created.
      for container in found { docker.stop(container: container.id, log: log) }
    }
    try store.deleteReplica(replica.id)
    probedAt.withLock { _ = $0.removeValue(forKey: replica.id) }
  }

  /// Docker: finds the deployment's containers by label (each cycle, before anything is planned).
  /// A recorded replica whose container id was never saved (the agent stopped in between) gets it
  /// back; a container no replica record names (its record was removed, or the state was reset)
  /// is removed rather than left running outside the agent's routes.
  func adoptContainers(of name: String) throws {
    guard let docker, let containers = try? docker.containers(of: name) else { return }
    let records = Dictionary(try store.replicas(of: name).map { ($0.id, $0) }) { a, _ in a }
    for container in containers {
      guard let id = container.labels[DockerRuntime.Label.replica], let record = records[id] else {
        progress("  removing container \(container.names.first ?? container.id) of \(name): no replica record names it")
        docker.stop(
          container: container.id, log: logs.appendingPathComponent("stray-\(container.id.prefix(12)).log").path)
        continue
      }
      if record.container == nil, record.pid == nil { try adopt(container.id, of: id) }
    }
  }

  /// Records a replica's container found by label; false when the replica is no longer recorded.
  @discardableResult
  private func adopt(_ container: String, of replica: String) throws -> Bool {
    guard try store.updateReplicaContainer(replica, container: container) else { return false }
    progress("  adopted container \(container.prefix(12)) of replica \(replica)")
    return true
  }

  /// Docker: a recorded replica without a container id gets its container back, found by label.
  private func adoptByLabel(_ replica: ReplicaRecord) -> ReplicaRecord {
    guard replica.container == nil, replica.pid == nil, let docker,
      let container = (try? docker.containers(ofReplica: replica.id))?.first,
      (try? adopt(container.id, of: replica.id)) == true
    else { return replica }
    var adopted = replica
    adopted.container = container.id
    return adopted
  }

  /// A checkout of the commit under `STATE/checkouts/<commit>`, made once and shared by replicas.
  private func checkout(_ commit: String) throws -> URL {
    let folder = checkouts.appendingPathComponent(commit)
    let fm = FileManager.default
    if fm.fileExists(atPath: folder.path) { return folder }
    try fm.createDirectory(at: checkouts, withIntermediateDirectories: true)
    let staging = checkouts.appendingPathComponent(".incoming-\(UUID().uuidString)")
    try repository.materialize(try repository.resolve(commit), into: staging.path)
    do {
      try fm.moveItem(at: staging, to: folder)
    } catch {
      try? fm.removeItem(at: staging)
      if !fm.fileExists(atPath: folder.path) { throw error }
    }
    return folder
  }

  /// Removes the checkouts no replica runs in and no deployment may return to (its active,
  /// previous or rolling-out commit); returns how many were removed.
  @discardableResult
  func pruneCheckouts() throws -> Int {
    var kept = Set(try store.replicas().compactMap(\.commit))
    for record in try store.deploymentRecords() {
      kept.formUnion([record.activeCommit, record.previousCommit, record.rolloutCommit].compactMap { $0 })
    }
    let fm = FileManager.default
    var removed = 0
    for name in (try? fm.contentsOfDirectory(atPath: checkouts.path)) ?? []
    where !name.hasPrefix(".") && !kept.contains(name) {
      try fm.removeItem(at: checkouts.appendingPathComponent(name))
      removed += 1
    }
    return removed
  }

  // MARK: Health and routes

  /// Checks every recorded replica once: a dead process is marked exited; a live one is probed
  /// when its interval has passed (all of them when `all`), and turns unhealthy after
  /// `failureThreshold` failures in a row. Returns whether any replica left service.
  @discardableResult
  public func probe(all: Bool = false) -> Bool {
    let deployments = declared.withLock { $0 }
    guard let recorded = try? store.replicas() else { return false }
    // Before judging a replica by its handle, one without (docker: the id never saved) is looked up,
    // unless the executor is starting it right now (it saves the id itself).
    let claimed = awaiting.withLock { $0 }
    let replicas = recorded.map { handle($0) == nil && !claimed.contains($0.id) ? adoptByLabel($0) : $0 }
    var changed = false
    var lost = false
    let now = Date()
    for replica in replicas where replica.health == .starting {
      // A starting replica is the executor's to watch, unless its process is gone or it was never
      // started (an agent killed between recording it and starting it).
      let started = handle(replica) != nil
      let orphaned = !started && now.timeIntervalSince(replica.startedAt) > 120
      if (started && !isAlive(replica)) || orphaned {
        if (try? store.updateReplicaHealth(replica.id, health: .exited, failures: replica.failures)) == true {
          lost = true
        }
        continue
      }
      // One nobody waits for (the agent restarted while it was starting, outside a rollout) is
      // probed here: healthy joins the routes, past its startup timeout it is replaced.
      guard started, !awaiting.withLock({ $0.contains(replica.id) }) else { continue }
      let health = deployments[replica.deployment]?.spec.health ?? Deployment.Health()
      if let port = replica.port,
        HealthProbe.check(port: port, path: health.path, timeout: health.timeout.timeInterval)
      {
        if (try? store.updateReplicaHealth(replica.id, health: .healthy, failures: 0)) == true { changed = true }
      } else if now.timeIntervalSince(replica.startedAt) > health.startupTimeout.timeInterval,
        (try? store.updateReplicaHealth(replica.id, health: .unhealthy, failures: replica.failures)) == true
      {
        progress("replica \(replica.id) of \(replica.deployment) did not turn healthy within its startup timeout")
        changed = true
        lost = true
      }
    }
    for replica in replicas where replica.health != .starting {
      let health = deployments[replica.deployment]?.spec.health ?? Deployment.Health()
      if !all, let last = probedAt.withLock({ $0[replica.id] }),
        now.timeIntervalSince(last) < health.interval.timeInterval
      {
        continue
      }
      probedAt.withLock { $0[replica.id] = now }
      var next = replica
      if !isAlive(replica) {
        next.health = .exited
      } else if let port = replica.port,
        HealthProbe.check(port: port, path: health.path, timeout: health.timeout.timeInterval)
      {
        next.health = .healthy
        next.failures = 0
      } else {
        next.failures += 1
        if next.failures >= health.failureThreshold { next.health = .unhealthy }
      }
      guard next.health != replica.health || next.failures != replica.failures else { continue }
      guard (try? store.updateReplicaHealth(replica.id, health: next.health, failures: next.failures)) == true
      else { continue }
      if next.health != replica.health {
        changed = true
        if next.health != .healthy {
          lost = true
          progress("replica \(replica.id) of \(replica.deployment) is \(next.health.rawValue)")
        }
      }
    }
    if changed { publishRoutes() }
    return lost
  }

  /// Remembers the deployments of the desired state being applied, and routes them.
  public func declare(_ deployments: [String: Deployment]) {
    declared.withLock { $0 = deployments }
    for (name, deployment) in deployments where (deployment.spec.runtime ?? defaultRuntime) == .docker {
      try? adoptContainers(of: name)
    }
    publishRoutes()
  }

  /// Sends the router the healthy replicas of every declared deployment and the traffic split.
  public func publishRoutes() {
    guard let router else { return }
    router.update(currentRoutes())
  }

  public func currentRoutes() -> [String: DeploymentRoute] {
    let deployments = declared.withLock { $0 }
    let records = Dictionary(((try? store.deploymentRecords()) ?? []).map { ($0.name, $0) }) { a, _ in a }
    let replicas = Dictionary(grouping: (try? store.replicas()) ?? [], by: \.deployment)
    var routes: [String: DeploymentRoute] = [:]
    for (name, deployment) in deployments {
      var route = DeploymentRoute(listen: deployment.spec.listen, previewListen: deployment.spec.strategy.previewListen)
      let record = records[name]
      for replica in replicas[name] ?? [] where replica.health == .healthy {
        guard let port = replica.port else { continue }
        let backend = DeploymentRoute.Backend(port: port, version: replica.revision.modelVersion, replica: replica.id)
        if replica.revision == record?.active {
          route.stable.append(backend)
        } else if replica.revision == record?.rollout {
          route.canary.append(backend)
        }
      }
      route.canaryWeight = record?.active == nil ? 100 : (record?.rolloutWeight ?? 0)
      routes[name] = route
    }
    return routes
  }
}
