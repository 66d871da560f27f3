import ArgumentParser
import Drivers
import Foundation
import GitSource
import Logging
import ModelOpsCore
import Reconciler
import Server
import StateStore

/// `agent apply`: one reconcile, waiting until its actions finish; progress on stderr.
struct ApplyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "apply",
    abstract: "Reconcile once: train, register, promote, roll out; wait until done.",
    discussion: """
      Progress goes to stderr, the outcome to stdout. Apply waits for the work it starts: runs, \
      replicas turning healthy, canary pauses that end within --max-pause. A longer pause (or a \
      blue-green preview waiting for `agent promote`) is reported as waiting and apply exits: the \
      rollout is saved at its step, and `agent run` or another apply carries it on (`agent \
      promote` skips the pause). Exit status: 0 when no action failed, 1 when one failed (or the \
      manifests are invalid). Replicas keep running after apply returns; a deployment's stable \
      `listen` endpoint is served by `agent run`.
      """
  )

  @OptionGroup var source: SourceOptions

  @Flag(help: "Allow a commit that removes every deployment to delete them.")
  var allowDeleteAll = false

  @Option(help: "Sit through canary pauses that end within this many seconds; longer ones are left waiting.")
  var maxPause: Double = 300

  func run() throws {
    try reportingFailures {
      let local = try LocalReconciler.open(source)
      // Ray jobs send their output to the agent's API: served while apply runs.
      let outputServer = local.ray.map { RunCommand.serveRayOutput($0, logger: Logger(label: "modelops.apply")) }
      defer { outputServer?.cancel() }
      let report: ApplyReport
      do {
        report = try local.reconciler.apply(
          local.desired, options: PlanOptions(allowDeleteAll: allowDeleteAll), patience: maxPause)
      } catch let error as StateError {
        throw CommandFailure(error.description)
      }
      withExtendedLifetime(local.lock) {}
      print(Self.summary(report, commit: local.desired.commit), terminator: "")
      if report.failed { throw ExitCode(1) }
    }
  }

  static func summary(_ report: ApplyReport, commit: String?) -> String {
    var out = ""
    let done = report.executed.filter { $0.error == nil }.count
    let failed = report.executed.count - done
    out += "Applied commit \(commit.map { String($0.prefix(12)) } ?? "-"): \(done) done, \(failed) failed"
    out += report.notReconciled.isEmpty ? ".\n" : ", \(report.notReconciled.count) not reconciled by this build.\n"
    for action in report.notReconciled {
      out += "  not reconciled: \(action.resource) \(action.headline)\n"
    }
    for action in report.held { out += "  held: \(action.resource): \(action.reason)\n" }
    for outcome in report.waiting {
      let skip =
        outcome.action.verb == .rollout ? " (`agent promote \(outcome.action.resource.name)` skips a pause)" : ""
      out += "  waiting: \(outcome.action.resource): \(outcome.detail)\(skip); `agent run` carries it on\n"
    }
    for (action, condition) in report.deferred { out += "  \(action.resource): \(condition.summary)\n" }
    return out
  }
}

/// The reconciler of the one-shot commands (`apply`, `rollback`): the state folder's lock held,
/// the desired state read, serving on the configured runtime; the stable endpoints are served by
/// the detached router process, which `agent run` adopts with the replicas these commands start.
struct LocalReconciler {
  let lock: StateLock
  let reconciler: Reconciler
  let desired: DesiredState
  /// With `ray:`, where its jobs' output is received (`api.listen`) and how.
  var ray: (listen: ListenAddress, output: RayStepOutput)?

  /// - Parameter viaServer: for a command the running agent can carry out, the command line that
  ///   asks it (`--server` added), suggested when an agent holds the state folder.
  static func open(_ source: SourceOptions, viaServer: String? = nil) throws -> LocalReconciler {
    let configuration = try source.configuration()
    guard let folder = source.state ?? configuration?.state else {
      throw CommandFailure("no state folder: give --state DIR, or a configuration with 'state'")
    }
    let lock: StateLock
    do { lock = try StateLock(folder: folder) } catch {
      guard let viaServer else { throw CommandFailure("\(error)") }
      let url = configuration?.apiListen.map { "http://\($0)" } ?? "http://HOST:PORT"
      throw CommandFailure("\(error)\nask the running agent instead: \(viaServer) --server \(url)")
    }
    let repository = try source.repository(configuration)
    var desired = try source.desiredState(
      at: source.defaultRef(configuration), repository,
      ManifestReader(path: source.manifestsPath(configuration), options: .agent(configuration)))
    // `source.verify`: an unsigned or wrongly signed commit is not applied, by hand either.
    if let configuration, let verifier = try RunCommand.verifier(configuration.source), let commit = desired.commit {
      switch verifier.verify(repository, commit) {
      case .success(let signer): desired.signer = signer
      case .failure(let refusal): throw CommandFailure("\(refusal); nothing is applied")
      }
    }
    let store: StateStore
    do { store = try StateStore(folder: folder) } catch { throw CommandFailure(error.description) }
    let registry = (configuration?.registry ?? .builtin).driver(store: store, folder: folder)
    let runtime = configuration?.runtime ?? .process
    var runner = TrainingRunner(store: store, registry: registry, repository: repository, stateFolder: folder)
    runner.docker = runtime.training(stateFolder: folder)
    runner.maxConcurrentRuns = configuration?.maxConcurrentRuns ?? 2
    let runAs = try RunCommand.runAs(configuration)
    runner.runAs = runAs
    let signer = try RunCommand.signer(configuration)
    runner.signer = signer
    let listen = configuration?.apiListen ?? ListenAddress(host: "127.0.0.1", port: 7070)
    let ray = try configuration?.ray.map { try RunCommand.rayCluster($0, listen: listen) }
    runner.ray = ray?.training
    let progress: ProgressSink = { line in Terminal.standardError.write(line.message + "\n") }
    runner.progress = progress
    let serving = ServingExecutor(
      store: store, registry: registry, repository: repository, stateFolder: folder,
      router: DetachedRouter(stateFolder: folder, logger: Logger(label: "modelops.apply")),
      docker: runtime.docker(stateFolder: folder),
      defaultRuntime: runtime.deploymentDefault, manifestsPath: source.manifestsPath(configuration),
      loadOptions: .agent(configuration), runAs: runAs, signer: signer, ray: ray?.serve, progress: progress)
    let reconciler = Reconciler(store: store, registry: registry, runner: runner, serving: serving, progress: progress)
    var local = LocalReconciler(lock: lock, reconciler: reconciler, desired: desired)
    if runner.ray != nil { local.ray = (listen, RayStepOutput(store: store, stateFolder: folder)) }
    return local
  }
}

/// `agent rollback DEPLOYMENT [--to-version N]`: roll back now.
struct RollbackCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "rollback",
    abstract: "Roll a deployment back now: to its previous revision, or to a version of its model.",
    discussion: """
      A rollout in flight is stopped and rolled back. The revision rolled back from is marked \
      failed: it is not rolled out again until the desired revision changes or `agent retry`. \
      With --server, the running agent does it (a second agent cannot take the state folder).
      """
  )

  @Argument(help: "The deployment.") var deployment: String
  @Option(help: "Roll back to this version of the deployment's model.") var toVersion: Int?
  @OptionGroup var source: SourceOptions
  @OptionGroup var remote: ServerOption

  func run() throws {
    try reportingFailures {
      if remote.server != nil {
        let query = toVersion.map { "?toVersion=\($0)" } ?? ""
        _ = try remote.call("POST", "deployments/\(escaped(deployment))/rollback\(query)", config: source.config)
        print("Rollback of \(deployment) requested; the agent carries it out now (see agent history \(deployment)).")
        return
      }
      let command = ["agent rollback", deployment] + (toVersion.map { ["--to-version", "\($0)"] } ?? [])
      let local = try LocalReconciler.open(source, viaServer: command.joined(separator: " "))
      guard let declared = local.desired.manifests.deployments[deployment] else {
        throw CommandFailure("no deployment named '\(deployment)' is declared at this commit")
      }
      if let refusal = local.reconciler.serving?.rollbackRefusal(declared, toVersion: toVersion) {
        throw CommandFailure("cannot roll back \(deployment): \(refusal)")
      }
      let outcome: ApplyReport.Executed
      do {
        outcome = try local.reconciler.rollbackNow(deployment, toVersion: toVersion, desired: local.desired)
      } catch let error as StateError {
        throw CommandFailure(error.description)
      }
      withExtendedLifetime(local.lock) {}
      if let error = outcome.error { throw CommandFailure("rollback of \(deployment) failed: \(error)") }
      print("Deployment \(deployment) rolled back: \(outcome.detail)")
    }
  }
}
