import ArgumentParser
import Drivers
import Foundation
import GitSource
import Logging
import ModelOpsCore
import Reconciler
import Server
import ServiceLifecycle
import StateStore

/// `agent run`: the long-running agent. Polls the source at `interval` (or on `POST
/// /api/v1/sync`), reconciles every cycle, serves health, readiness, metrics and the API, and
/// stops gracefully on SIGTERM or SIGINT once the cycle in progress has finished.
struct RunCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Run the agent: watch the repository and reconcile continuously.",
    discussion: """
      Needs a configuration (agent.yaml). Serves GET /healthz, GET /readyz, GET /metrics and \
      the API on api.listen (default 127.0.0.1:7070), and each deployment's `listen` address (a \
      router to its healthy replicas). Nothing waits: training runs, replicas starting and canary \
      pauses are followed in the background while every other resource keeps reconciling. On \
      SIGTERM or SIGINT the agent stops within seconds: training steps still running are stopped \
      (their runs recorded as interrupted, started again by the planner's rules); replicas keep \
      running and are adopted, and rollouts resume at their saved step, on the next start.
      """
  )

  @Option(help: "Agent configuration file (default ./agent.yaml, then /etc/modelops/agent.yaml).")
  var config: String?

  func run() async throws {
    LoggingSystem.bootstrap(StreamLogHandler.standardError)
    var logger = Logger(label: "modelops.agent")
    logger.logLevel = .info
    let group: ServiceGroup
    let lock: StateLock
    do {
      (group, lock) = try makeServices(logger: logger)
    } catch let failure as CommandFailure {
      Terminal.standardError.write("\(Terminal.standardError.red("error:")) \(failure.description)\n")
      throw ExitCode(1)
    }
    try await group.run()
    // The lock is held for as long as the services run, and released only now.
    withExtendedLifetime(lock) {}
  }

  private func makeServices(logger: Logger) throws -> (ServiceGroup, StateLock) {
    guard let configuration = try ConfigLoading.load(explicit: config) else {
      throw CommandFailure("agent run needs a configuration: --config FILE, ./agent.yaml or /etc/modelops/agent.yaml")
    }
    let folder = configuration.state
    let lock: StateLock
    do { lock = try StateLock(folder: folder) } catch { throw CommandFailure("\(error)") }
    let source = configuration.source
    let credentials = try Credentials.resolve(source.auth)
    let opened: (repository: GitRepository, fetch: @Sendable () throws -> GitRepository)
    do {
      opened = try Self.openSource(source, stateFolder: folder, credentials: credentials)
    } catch {
      throw CommandFailure(error.description)
    }
    let repository = opened.repository
    let fetch = opened.fetch
    let store: StateStore
    do { store = try StateStore(folder: folder) } catch { throw CommandFailure("\(error)") }
    let registry = configuration.registry.driver(store: store, folder: folder)
    var runner = TrainingRunner(store: store, registry: registry, repository: repository, stateFolder: folder)
    runner.docker = configuration.runtime.training(stateFolder: folder)
    runner.maxConcurrentRuns = configuration.maxConcurrentRuns
    let runAs = try Self.runAs(configuration)
    runner.runAs = runAs
    let signer = try Self.signer(configuration)
    runner.signer = signer
    let listen = configuration.apiListen ?? ListenAddress(host: "127.0.0.1", port: 7070)
    let ray = try configuration.ray.map { try Self.rayCluster($0, listen: listen) }
    runner.ray = ray?.training
    let shutdown = ShutdownFlag()
    // The stable endpoints are served by a router process that outlives this agent (adopted if
    // one runs already): stopping or killing the agent never takes a model offline.
    let router = DetachedRouter(stateFolder: folder, logger: logger)
    let notifier =
      configuration.notify.isEmpty
      ? nil
      : Notifier(targets: configuration.notify.map { NotifyTarget(url: $0.url, events: $0.events) }) { line in
        logger.warning("notification not delivered yet", metadata: ["detail": "\(line)"])
      }
    let log = Self.progressLog(logger)
    runner.progress = log
    let monitors = MonitorRunner(
      store: store, registry: registry, prometheusURL: configuration.prometheusURL, notifier: notifier,
      routerMetrics: { router.metricsText() }, progress: log)
    let serving = ServingExecutor(
      store: store, registry: registry, repository: repository, stateFolder: folder, router: router,
      monitors: monitors, docker: configuration.runtime.docker(stateFolder: folder),
      defaultRuntime: configuration.runtime.deploymentDefault, manifestsPath: source.path,
      loadOptions: .agent(configuration), runAs: runAs, signer: signer, ray: ray?.serve, progress: log)
    let writeBack =
      configuration.writeBack ? Self.writeBack(source, repository: repository, credentials: credentials) : nil
    let reconciler = Reconciler(
      store: store, registry: registry, runner: runner, serving: serving, notifier: notifier, writeBack: writeBack,
      progress: log)
    let watcher = SourceWatcher(
      fetch: fetch, branch: source.branch, reader: ManifestReader(path: source.path, options: .agent(configuration)),
      store: store, verifier: try Self.verifier(source)
    ) { commit, reason in
      notifier?.send(
        Notification(event: "apply-failed", resource: "Model/*", reason: reason, commit: commit, at: Date()))
    }
    let state = DaemonState()
    let interval = Duration.milliseconds(source.interval.milliseconds)
    let loop = ReconcileLoop(
      watcher: watcher, reconciler: reconciler, state: state, interval: interval, logger: logger, shutdown: shutdown)
    let sourceLoop = SourceLoop(
      watcher: watcher, state: state, interval: interval,
      timeout: .milliseconds(source.fetchTimeout.milliseconds), logger: logger)
    let supervisor = ReplicaSupervisor(serving: serving, state: state, logger: logger)
    let runs = RunSupervisor(reconciler: reconciler, state: state, logger: logger)
    let token = try configuration.apiToken.map(Credentials.secret)
    if token == nil {
      // Without a token, whoever reaches the API can roll back, promote and post alerts: only the
      // host's own processes may (loopback), and the log says so.
      guard Self.isLoopback(listen.host) else {
        throw CommandFailure(
          "api.listen \(listen) is reachable from other hosts, and api.token is not set: anyone who can reach it "
            + "could roll back or promote deployments and post alerts. Set api.token, or listen on 127.0.0.1")
      }
    }
    var api = Self.api(
      store: store, repository: repository, manifestsPath: source.path, options: .agent(configuration),
      watcher: watcher,
      serving: serving, state: state)
    api.alerts = { payload in monitors.receive(payload) }
    if ray != nil { api.rayOutput = RayStepOutput(store: store, stateFolder: folder) }
    api.metrics = { Self.servingMetrics(store) + router.metricsText() }
    let webhookSecret = try configuration.webhookSecret.map(Credentials.secret)
    let server = AgentServer.application(
      state: state, listen: listen, token: token, api: api, webhookSecret: webhookSecret, logger: logger)
    logger.info(
      "agent started",
      metadata: [
        "source": "\(redactURLs(in: source.url))", "branch": "\(source.branch)", "state": "\(folder)",
        "listen": "\(listen)",
      ])
    if runAs == nil, geteuid() == 0 {
      logger.warning(
        "training steps and replicas run as root, like the agent, and can read its memory; set runAs (e.g. nobody)"
      )
    }
    if token == nil {
      logger.warning(
        "the API has no token: any process on this host can roll back or promote deployments and post alerts; set api.token",
        metadata: ["listen": "\(listen)"])
    }
    let group = ServiceGroup(
      configuration: .init(
        // Shut down in reverse order: the reconcile loop first (no new work), then the source
        // loop, the run supervisor (stops the training steps), the replica supervisor and the API.
        // The router process keeps serving.
        services: [server, supervisor, runs, sourceLoop, loop], gracefulShutdownSignals: [.sigterm, .sigint],
        logger: logger))
    return (group, lock)
  }

  /// The `/api/v1` routes' answers, from the state store, the repository and the loop.
  private static func api(
    store: StateStore, repository: GitRepository, manifestsPath: String, options: LoadOptions, watcher: SourceWatcher,
    serving: ServingExecutor, state: DaemonState
  ) -> AgentAPI {
    AgentAPI(
      status: {
        guard let desired = watcher.desired else {
          throw APIError(.serviceUnavailable, "no valid commit has been read yet")
        }
        let observed = try store.observe()
        let plan = Planner.plan(desired: desired, observed: observed, now: Date())
        return StatusReport.statuses(desired: desired, observed: observed, plan: plan)
      },
      plan: { ref in
        var desired = watcher.desired
        if let ref {
          let reader = ManifestReader(path: manifestsPath, options: options)
          let commit: CommitInfo
          do { commit = try repository.resolve(ref) } catch { throw APIError(.notFound, "\(error)") }
          let result = reader.load(repository.tree(at: commit))
          guard result.isValid else {
            throw APIError(
              .unprocessableContent,
              "the manifests at \(ref) are invalid: "
                + result.diagnostics.prefix(20).map(\.description).joined(separator: "; "))
          }
          desired = reader.desiredState(result, tree: repository.tree(at: commit), commit: commit)
        }
        guard let desired else { throw APIError(.serviceUnavailable, "no valid commit has been read yet") }
        let observed = try store.observe()
        let plan = Planner.plan(desired: desired, observed: observed, now: Date())
        return PlanRenderer.json(
          PlanReport(plan: plan, notes: PlanCommand.heldBack(desired, observed, now: Date())))
      },
      events: { name, limit in try store.events(named: name, limit: limit) },
      models: { name in
        var versions = try store.versions(model: name)
        guard let desired = watcher.desired else { return versions }
        let observed = try store.observe()
        for (model, manifest) in desired.manifests.models {
          guard let seen = observed.models[model] else { continue }
          for (alias, held) in AliasPolicy.heldBack(manifest, seen, now: Date()) {
            for index in versions.indices
            where versions[index].model == model && versions[index].version == held.version {
              versions[index].heldBack = "held back from \(alias): \(held.reason)"
            }
          }
        }
        return versions
      },
      run: { id in try store.run(id: id) },
      rollback: { name, version in
        guard let deployment = watcher.desired?.manifests.deployments[name] else { return false }
        if let refusal = serving.rollbackRefusal(deployment, toVersion: version) {
          throw APIError(refusal.kind == .notFound ? .notFound : .conflict, refusal.description)
        }
        try serving.requestRollback(name, toVersion: version)
        state.wake()
        return true
      },
      promote: { name in
        guard try store.approvePromotion(name, at: Date()) else { return false }
        state.wake()
        return true
      },
      metrics: { servingMetrics(store) },
      source: {
        var report = watcher.report
        report.passError = state.passFailure.withLock { $0 }
        return report
      },
      runLog: { id in
        guard !id.contains("/"), !id.hasPrefix("."), let run = try store.run(id: id) else { return nil }
        return FileManager.default.contents(atPath: "\(store.folder)/runs/\(run.id)/run.log")
          .map { String(decoding: $0, as: UTF8.self) }
      },
      retry: { name in
        let said = try store.retry(name)
        if !said.isEmpty { state.wake() }
        return said
      },
      targets: {
        try store.replicas().compactMap { replica in
          guard replica.health != .exited, let port = replica.port else { return nil }
          return ScrapeTargetGroup(
            targets: ["127.0.0.1:\(port)"],
            labels: [
              "deployment": replica.deployment, "version": "\(replica.revision.modelVersion)", "replica": replica.id,
            ])
        }
      })
  }
}
