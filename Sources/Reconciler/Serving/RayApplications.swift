import Dispatch
import Drivers
import Foundation
import ModelOpsCore
import StateStore
import Synchronization

/// The Serve applications of `runtime: ray` revisions: one per revision, standing in the state
/// store as that revision's one replica (`rayApp`). Nothing waits for the cluster in a reconcile
/// pass: a start records what to deploy and a worker ships it (the commit's code with the
/// version's artifact in `_modelops_model/`, as the application's working_dir) and writes Serve's
/// config; a stop queues the removal. What the cluster says is read once per probe round
/// (`refresh`, on the supervisor's thread), which also retries removals that failed and removes
/// this agent's applications no replica names any more (an agent killed before its removal ran).
/// Applications of others — without this agent's `MODELOPS_OWNER` — are never touched.
final class RayApplications: Sendable {
  let serve: RayServe
  /// Which agent deploys (a digest of its state folder), as `MODELOPS_OWNER` in each application.
  let owner: String
  /// The applications the store's replicas name (what is not a stray).
  private let known: @Sendable () -> Set<String>
  /// The cluster's applications at the last look; nil until one answered. `error`: why the last
  /// look failed (the cluster did not answer: nothing is judged until it does).
  private let seen = Mutex<(apps: [String: ServeApplicationStatus]?, error: String?, readAt: Date)>(
    (nil, nil, .distantPast))
  /// When each application's deploy was written (a look begun before then cannot have seen it).
  private let deployedAt = Mutex<[String: Date]>([:])
  /// Deploys under way (nil value) or failed (their error), by application.
  private let deploys = Mutex<[String: RayError?]>([:])
  /// Removals not done yet (retried at each refresh).
  private let removals = Mutex<Set<String>>([])
  /// When the cluster was last read.
  private let lastRefresh = Mutex(Date.distantPast)
  /// Deploys and removals, one at a time (Serve's config is replaced whole on each write).
  private let worker = DispatchQueue(label: "modelops.ray.serve")

  init(serve: RayServe, owner: String, known: @escaping @Sendable () -> Set<String>) {
    self.serve = serve
    self.owner = owner
    self.known = known
  }

  /// The folder the artifact is shipped in, relative to the application's working directory.
  static let modelFolder = "_modelops_model"

  /// `modelops-<deployment>-v<version>-<template>-<owner>`: the same for every start of the
  /// revision by this agent, and never another agent's.
  func name(deployment: String, revision: Revision) -> String {
    "modelops-\(deployment)-v\(revision.modelVersion)-\(revision.template.prefix(8))-\(owner.prefix(8))"
  }

  /// This agent's owner id: random, made once and kept in the state folder (`ray-owner`), so two
  /// agents never share one — not even with the same state path on two hosts.
  static func owner(stateFolder: String) -> String {
    let file = URL(fileURLWithPath: stateFolder).appendingPathComponent("ray-owner")
    if let known = try? String(contentsOf: file, encoding: .utf8), known.count >= 8 { return known }
    let made = (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    try? Data(made.utf8).write(to: file, options: .withoutOverwriting)
    return (try? String(contentsOf: file, encoding: .utf8)) ?? made
  }

  /// Marks the application as on its way, before its replica is recorded: a probe in between
  /// sees it starting, not missing.
  func reserve(_ app: String) { deploys.withLock { $0[app] = .some(nil) } }

  /// Forgets a reservation whose deploy was never queued.
  func release(_ app: String) { deploys.withLock { _ = $0.removeValue(forKey: app) } }

  /// Queues the deploy of the revision's application and returns; the replica it stands for is
  /// named in `MODELOPS_REPLICA` (what tells a changed application from the agent's own).
  func start(_ deployment: Deployment, _ revision: Revision, replica: String, checkout: URL, modelPath: URL) throws {
    guard let options = deployment.spec.ray else {
      throw Stalled("deployment \(deployment.metadata.name) has runtime ray but no spec.ray")
    }
    let name = name(deployment: deployment.metadata.name, revision: revision)
    var env = deployment.spec.env
    env["MODELOPS_MODEL"] = deployment.spec.model.model
    env["MODELOPS_MODEL_VERSION"] = "\(revision.modelVersion)"
    env["MODELOPS_MODEL_PATH"] = Self.modelFolder
    env["MODELOPS_DEPLOYMENT"] = deployment.metadata.name
    env["MODELOPS_ROUTE_PREFIX"] = "/\(name)"
    env["MODELOPS_REPLICA"] = replica
    env["MODELOPS_OWNER"] = owner
    var app = ServeApplication(name: name, importPath: options.importPath, workingDir: "", env: env)
    if let target = options.deployment {
      var override = ServeApplication.Override(name: target)
      override.replicas = options.replicas
      override.autoscaling = options.autoscaling.map { ($0.min, $0.max) }
      override.cpus = options.actorOptions?.cpus
      override.gpus = options.actorOptions?.gpus
      override.memory = options.actorOptions?.memory?.bytes
      app.deployment = override
    }
    deploys.withLock { $0[name] = .some(nil) }
    removals.withLock { _ = $0.remove(name) }
    let planned = app
    worker.async { [self] in
      do {
        var app = planned
        app.workingDir = try package(checkout: checkout, modelPath: modelPath)
        try serve.deploy(app)
        deployedAt.withLock { $0[name] = Date() }
        deploys.withLock { _ = $0.removeValue(forKey: name) }
      } catch {
        let failure = error as? RayError ?? RayError("\(error)", transient: false)
        deploys.withLock { $0[name] = .some(failure) }
      }
    }
  }

  /// The commit's checkout with the artifact in `_modelops_model/`, uploaded under its digest.
  private func package(checkout: URL, modelPath: URL) throws -> String {
    var extra: [String: Data] = [:]
    let fm = FileManager.default
    for relative in fm.subpaths(atPath: modelPath.path) ?? [] {
      let file = modelPath.appendingPathComponent(relative)
      guard (try? fm.attributesOfItem(atPath: file.path))?[.type] as? FileAttributeType == .typeRegular else {
        continue
      }
      extra["\(Self.modelFolder)/\(relative)"] = try Data(contentsOf: file)
    }
    let zip = try ZipArchive.write(folder: checkout, extra: extra, limit: 500 << 20)
    var hasher = SHA256()
    hasher.update(zip)
    return try serve.dashboard.ensurePackage(name: "_ray_pkg_modelops_\(hasher.hexDigest().prefix(32)).zip") { zip }
  }

  /// Why the application's deploy failed (nil: it did not, or has not finished).
  func deployFailure(of app: String) -> RayError? { deploys.withLock { $0[app] ?? nil } }

  /// Reads the cluster's applications (once per probe round), then queues the removals still to
  /// do and those of this agent's applications no replica names.
  func refresh(now: Date = Date()) {
    // At most once a second, whatever the probe rounds' pace.
    guard
      lastRefresh.withLock({ last in
        guard now.timeIntervalSince(last) >= 1 else { return false }
        last = now
        return true
      })
    else { return }
    do {
      let started = Date()
      let apps = try serve.applications()
      seen.withLock { $0 = (apps, nil, started) }
      let deploying = deploys.withLock { Set($0.keys) }
      let names = known()
      let strays = apps.filter { $0.value.owner == owner && !names.contains($0.key) && !deploying.contains($0.key) }
      let pending = removals.withLock {
        $0.formUnion(strays.keys); return $0
      }
      if !pending.isEmpty { queueRemoval(pending.intersection(apps.keys)) }
    } catch {
      seen.withLock { $0.error = error.description }
    }
  }

  /// Why the cluster could not be read at the last look (nil: it answered).
  var unreachable: String? { seen.withLock { $0.error } }

  /// The health of the replica standing for `app`: nil while nothing can be said (the cluster did
  /// not answer, or has not been read); `starting` while it is shipped or Serve deploys it.
  func health(of replica: ReplicaRecord, app: String) -> ObservedDeployment.ReplicaHealth? {
    if let failure = deploys.withLock({ $0[app] }) { return failure == nil ? .starting : .unhealthy }
    let (apps, error, readAt) = seen.withLock { ($0.apps, $0.error, $0.readAt) }
    guard error == nil, let apps else { return nil }
    // Deployed (again) after that look began: what the look says is older than it.
    if isNewer(app, than: readAt) {
      return apps[app]?.status == "RUNNING" && apps[app]?.replica == replica.id ? .healthy : .starting
    }
    guard let status = apps[app] else { return .exited }
    // Deployed again by someone else (who did not name this replica): changed behind the agent's back.
    if status.replica != replica.id { return .altered }
    switch status.status {
    case "RUNNING": return .healthy
    case "DEPLOY_FAILED", "UNHEALTHY": return .unhealthy
    case "DELETING": return .exited
    default: return .starting
    }
  }

  /// Whether the application is there or on its way (true while the cluster cannot be read:
  /// nothing is replaced on a guess).
  func isPresent(_ app: String) -> Bool {
    if deploys.withLock({ $0[app] }) != nil { return deployFailure(of: app) == nil }
    let (apps, error, readAt) = seen.withLock { ($0.apps, $0.error, $0.readAt) }
    guard error == nil, let apps else { return true }
    return apps[app] != nil || isNewer(app, than: readAt)
  }

  /// When the application's deploy was written (nil: not by this agent since it started).
  func deployed(_ app: String) -> Date? { deployedAt.withLock { $0[app] } }

  /// Whether the application was deployed after the look that began at `readAt`.
  private func isNewer(_ app: String, than readAt: Date) -> Bool {
    deployedAt.withLock { $0[app] }.map { $0 >= readAt } ?? false
  }

  /// Ray's words on the application (a failed import's traceback tail, a failed deploy).
  func message(of app: String) -> String? {
    if let failure = deployFailure(of: app) { return failure.description }
    guard let message = seen.withLock({ $0.apps?[app]?.message }), !message.isEmpty else { return nil }
    return RayDashboard.tail(message, lines: 15)
  }

  /// Queues the application's removal from the cluster's Serve config and returns.
  func stop(_ app: String) {
    deploys.withLock { _ = $0.removeValue(forKey: app) }
    deployedAt.withLock { _ = $0.removeValue(forKey: app) }
    seen.withLock { _ = $0.apps?.removeValue(forKey: app) }
    removals.withLock { _ = $0.insert(app) }
    queueRemoval([app])
  }

  private func queueRemoval(_ names: Set<String>) {
    guard !names.isEmpty else { return }
    worker.async { [self] in
      // A name deployed again since, or that a replica names again, is not removed.
      let busy = deploys.withLock { Set($0.keys) }.union(known())
      let due = removals.withLock { $0.intersection(names) }.subtracting(busy)
      guard !due.isEmpty, (try? serve.remove(due)) != nil else { return }
      removals.withLock { $0.subtract(due) }
    }
  }
}
