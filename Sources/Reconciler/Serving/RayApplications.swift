import Drivers
import Foundation
import ModelOpsCore
import StateStore
import Synchronization

/// The Serve applications of `runtime: ray` deployments: one per revision, standing in the state
/// store as that revision's one replica (`rayApp`). Started by shipping the commit's code with the
/// version's artifact (`_modelops_model/`) as the application's working_dir; judged by the status
/// Serve reports (read once per probe round: `refresh`); removed from the cluster's Serve config,
/// never touching applications the agent does not own.
final class RayApplications: Sendable {
  let serve: RayServe
  /// The cluster's applications at the last look; nil until one answered. `error`: why the last
  /// look failed (the cluster did not answer: nothing is judged until it does).
  private let seen = Mutex<(apps: [String: ServeApplicationStatus]?, error: String?)>((nil, nil))

  init(serve: RayServe) { self.serve = serve }

  /// The folder the artifact is shipped in, relative to the application's working directory.
  static let modelFolder = "_modelops_model"

  /// `modelops-<deployment>-v<version>-<template>`: the same for every start of the revision.
  static func name(deployment: String, revision: Revision) -> String {
    "modelops-\(deployment)-v\(revision.modelVersion)-\(revision.template.prefix(8))"
  }

  /// Deploys the revision's application; the replica it stands for names it in `MODELOPS_REPLICA`
  /// (what tells a changed application from the agent's own).
  func start(
    _ deployment: Deployment, _ revision: Revision, replica: String, checkout: URL, modelPath: URL
  ) throws -> String {
    guard let options = deployment.spec.ray else {
      throw Stalled("deployment \(deployment.metadata.name) has runtime ray but no spec.ray")
    }
    let name = Self.name(deployment: deployment.metadata.name, revision: revision)
    do {
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
      let package = try serve.dashboard.ensurePackage(name: "_ray_pkg_modelops_\(hasher.hexDigest().prefix(32)).zip") {
        zip
      }
      var env = deployment.spec.env
      env["MODELOPS_MODEL"] = deployment.spec.model.model
      env["MODELOPS_MODEL_VERSION"] = "\(revision.modelVersion)"
      env["MODELOPS_MODEL_PATH"] = Self.modelFolder
      env["MODELOPS_DEPLOYMENT"] = deployment.metadata.name
      env["MODELOPS_ROUTE_PREFIX"] = "/\(name)"
      env["MODELOPS_REPLICA"] = replica
      var app = ServeApplication(name: name, importPath: options.importPath, workingDir: package, env: env)
      if let target = options.deployment {
        var override = ServeApplication.Override(name: target)
        override.replicas = options.replicas
        override.autoscaling = options.autoscaling.map { ($0.min, $0.max) }
        override.cpus = options.actorOptions?.cpus
        override.gpus = options.actorOptions?.gpus
        override.memory = options.actorOptions?.memory?.bytes
        app.deployment = override
      }
      try serve.deploy(app)
      return name
    } catch let error as RayError {
      throw error.transient ? Unreachable(error.description) as any Error : Stalled(error.description)
    }
  }

  /// Reads the cluster's applications (once per probe round).
  func refresh() {
    do {
      let apps = try serve.applications()
      seen.withLock { $0 = (apps, nil) }
    } catch {
      seen.withLock { $0.error = error.description }
    }
  }

  /// Why the cluster could not be read at the last look (nil: it answered).
  var unreachable: String? { seen.withLock { $0.error } }

  /// The health of the replica standing for `app`: nil while nothing can be said (the cluster did
  /// not answer, or has not been read); `starting` while Serve deploys it.
  func health(of replica: ReplicaRecord, app: String) -> ObservedDeployment.ReplicaHealth? {
    let (apps, error) = seen.withLock { ($0.apps, $0.error) }
    guard error == nil, let apps else { return nil }
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

  /// Whether the application is still there (true while the cluster cannot be read: nothing is
  /// replaced on a guess).
  func isPresent(_ app: String) -> Bool {
    let (apps, error) = seen.withLock { ($0.apps, $0.error) }
    guard error == nil, let apps else { return true }
    return apps[app] != nil
  }

  /// Ray's words on the application (a failed import's traceback tail), if it has any.
  func message(of app: String) -> String? {
    guard let message = seen.withLock({ $0.apps?[app]?.message }), !message.isEmpty else { return nil }
    return RayDashboard.tail(message, lines: 15)
  }

  /// Removes the application from the cluster's Serve config.
  func stop(_ app: String) throws {
    do { try serve.remove([app]) } catch {
      throw error.transient ? Unreachable(error.description) as any Error : Stalled(error.description)
    }
    seen.withLock { _ = $0.apps?.removeValue(forKey: app) }
  }
}
