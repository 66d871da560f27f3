import Drivers
import Foundation
import GitSource
import ModelOpsCore
import ModelOpsTesting
import StateStore
import Synchronization
import Testing

@testable import Reconciler

/// Every routing table the executor published, in order.
final class RecordingRouter: TrafficRouter {
  let updates = Mutex<[DeploymentRoute]>([])

  func update(_ routes: [String: DeploymentRoute]) {
    guard let route = routes["api"] else { return }
    updates.withLock { $0.append(route) }
  }

  var all: [DeploymentRoute] { updates.withLock { $0 } }
}

/// A replica that answers every GET with its model version: 200, or 500 when `UNHEALTHY` is set.
let serveScript = """
  import http.server, os
  class H(http.server.BaseHTTPRequestHandler):
      def log_message(self, *args): pass
      def do_GET(self):
          body = os.environ["MODELOPS_MODEL_VERSION"].encode()
          self.send_response(500 if os.environ.get("UNHEALTHY") else 200)
          self.send_header("Content-Length", str(len(body)))
          self.end_headers()
          self.wfile.write(body)
  http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
  """

/// A repository with a pinned model and one deployment of it, real replica processes, and the
/// reconciler wired as `agent run` wires it (with a recording router).
final class ServingHarness {
  let repo: GitFixture
  let state: String
  let store: StateStore
  let registry: BuiltinRegistry
  let router = RecordingRouter()
  let serving: ServingExecutor
  let reconciler: Reconciler

  init() throws {
    repo = try GitFixture()
    try repo.write("serve.py", serveScript)
    state = repo.path + "/.state"
    try repo.write(".gitignore", ".state/\n")
    store = try StateStore(folder: state)
    registry = BuiltinRegistry(store: store, folder: state)
    let git = try GitRepository.open(repo.path)
    serving = ServingExecutor(store: store, registry: registry, repository: git, stateFolder: state, router: router)
    reconciler = Reconciler(
      store: store, registry: registry,
      runner: TrainingRunner(store: store, registry: registry, repository: git, stateFolder: state),
      serving: serving)
    for version in 1...3 {
      let artifact = repo.root.appendingPathComponent(".artifacts/v\(version)")
      try FileManager.default.createDirectory(at: artifact, withIntermediateDirectories: true)
      try Data("weights \(version)\n".utf8).write(to: artifact.appendingPathComponent("w.txt"))
      _ = try registry.register(
        NewVersion(model: "m", artifact: artifact, metrics: [:], profile: nil, lineage: [:], createdAt: Date()))
    }
  }

  deinit {
    for replica in (try? store.replicas()) ?? [] { try? serving.stop(replica) }
  }

  /// Commits manifests pinning `version`, with the strategy and extra deployment fields given.
  func commit(
    version: Int, strategy: String, replicas: Int = 2, env: String = "{}", extra: String = "", retain: Int = 50,
    scaleDownDelay: String = "0s"
  ) throws {
    try repo.write(
      "manifests/all.yaml",
      """
      apiVersion: modelops/v1
      kind: Model
      metadata: {name: m}
      spec:
        retain: \(retain)
        aliases:
          prod: {version: \(version)}
      ---
      apiVersion: modelops/v1
      kind: Deployment
      metadata: {name: api}
      spec:
        model: m@prod
        runtime: process
        command: ["python3", "serve.py"]
        env: \(env)
        replicas: \(replicas)
        listen: 127.0.0.1:1
        health: {path: /healthz, interval: 1s, timeout: 1s, startupTimeout: 20s}
        strategy: \(strategy)
        rollback: {scaleDownDelay: \(scaleDownDelay)}
      \(extra)
      """)
    try repo.commit("v\(version)")
  }

  func desired() throws -> DesiredState {
    let git = try GitRepository.open(repo.path)
    let commit = try git.resolve("HEAD")
    let reader = ManifestReader(path: "manifests")
    let result = reader.load(git.tree(at: commit))
    try #require(result.isValid, "\(result.diagnostics)")
    return reader.desiredState(result, tree: git.tree(at: commit), commit: commit)
  }

  func apply() throws -> ApplyReport { try reconciler.apply(try desired()) }

  /// `agent rollback api` without a running agent: driven until the revision rolled back to serves.
  func rollback() throws -> String {
    let outcome = try reconciler.rollbackNow("api", toVersion: nil, desired: try desired())
    if let error = outcome.error { throw RunError(error) }
    return outcome.detail
  }

  /// Versions answering on the replicas recorded now (each asked directly).
  func answering() throws -> [Int] {
    try store.replicas().compactMap { replica in
      guard let port = replica.port, let response = try? HTTPClient.get("http://127.0.0.1:\(port)/", timeout: 2),
        response.status == 200
      else { return nil }
      return Int(String(decoding: response.body, as: UTF8.self))
    }.sorted()
  }

  var record: DeploymentRecord? { (try? store.deploymentRecord("api")) ?? nil }
}

@Suite(.serialized) struct ServingExecutorTests {
  @Test func aFirstDeploymentStartsTheReplicasAndASecondApplyChangesNothing() throws {
    let h = try ServingHarness()
    try h.commit(version: 1, strategy: "{type: rolling}")
    let first = try h.apply()
    #expect(!first.failed, "\(first.executed.map(\.error))")
    #expect(first.executed.map(\.action.verb) == [.promote, .rollout])
    #expect(try h.answering() == [1, 1])
    #expect(h.record?.active?.modelVersion == 1)
    #expect(h.router.all.last?.stable.count == 2)
    let second = try h.apply()
    #expect(second.executed.isEmpty)
    #expect(try h.answering() == [1, 1])
  }

  @Test func rollingNeverDropsBelowTheDeclaredReplicasAndShiftsTrafficByReplica() throws {
    let h = try ServingHarness()
    try h.commit(version: 1, strategy: "{type: rolling, maxSurge: 1, maxUnavailable: 0}")
    _ = try h.apply()
    let before = h.router.all.count
    try h.commit(version: 2, strategy: "{type: rolling, maxSurge: 1, maxUnavailable: 0}")
    let report = try h.apply()
    #expect(!report.failed, "\(report.executed.map(\.error))")
    let during = h.router.all.dropFirst(before)
    #expect(during.allSatisfy { $0.stable.count + $0.canary.count >= 2 })
    #expect(during.allSatisfy { $0.stable.count + $0.canary.count <= 3 }, "maxSurge 1 over 2 replicas")
    #expect(Set(during.map(\.canaryWeight)).isSuperset(of: [0, 50, 100]))
    #expect(try h.answering() == [2, 2])
    #expect(h.record?.previous?.modelVersion == 1)
    // Checkouts: the active and previous revisions' commits stay; a third rollout drops the oldest.
    let checkouts = { Set((try? FileManager.default.contentsOfDirectory(atPath: h.state + "/checkouts")) ?? []) }
    let first = try #require(h.record?.previousCommit)
    #expect(checkouts() == [first, try #require(h.record?.activeCommit)])
    try h.commit(version: 3, strategy: "{type: rolling, maxSurge: 1, maxUnavailable: 0}")
    #expect(!(try h.apply()).failed)
    #expect(!checkouts().contains(first))
    #expect(checkouts().count == 2)
  }

  @Test func recreateStopsTheOldReplicasBeforeStartingTheNew() throws {
    let h = try ServingHarness()
    try h.commit(version: 1, strategy: "{type: recreate}")
    _ = try h.apply()
    let before = h.router.all.count
    try h.commit(version: 2, strategy: "{type: recreate}")
    #expect(!(try h.apply()).failed)
    let during = h.router.all.dropFirst(before)
    #expect(during.contains { $0.stable.isEmpty && $0.canary.isEmpty }, "a gap: recreate has downtime")
    #expect(!during.contains { !$0.stable.isEmpty && !$0.canary.isEmpty }, "never both versions")
    #expect(try h.answering() == [2, 2])
  }

  @Test func blueGreenBringsTheNewVersionUpOnThePreviewThenSwitchesAllAtOnce() throws {
    let h = try ServingHarness()
    let strategy = "{type: bluegreen, previewListen: 127.0.0.1:2}"
    try h.commit(version: 1, strategy: strategy)
    _ = try h.apply()
    let before = h.router.all.count
    try h.commit(version: 2, strategy: strategy)
    #expect(!(try h.apply()).failed)
    let during = h.router.all.dropFirst(before)
    #expect(during.allSatisfy { $0.previewListen == ListenAddress(host: "127.0.0.1", port: 2) })
    #expect(during.contains { $0.canary.count == 2 && $0.stable.count == 2 && $0.canaryWeight == 0 })
    #expect(Set(during.map(\.canaryWeight)).isSubset(of: [0, 100]), "no partial split")
    #expect(try h.answering() == [2, 2])
  }

  @Test func blueGreenWithoutAutoPromoteWaitsOnThePreviewUntilPromoted() throws {
    let h = try ServingHarness()
    let strategy = "{type: bluegreen, previewListen: 127.0.0.1:2, autoPromote: false}"
    try h.commit(version: 1, strategy: strategy)
    _ = try h.apply()
    try h.commit(version: 2, strategy: strategy)
    let previewing = try h.apply()
    #expect(!previewing.failed)
    #expect(previewing.executed.last?.detail.contains("is up on the preview listener on 127.0.0.1:2") == true)
    #expect(try h.answering() == [1, 1, 2, 2])
    #expect(h.router.all.last.map { ($0.stable.count, $0.canary.count, $0.canaryWeight) } ?? (0, 0, -1) == (2, 2, 0))
    let waiting = try h.apply()
    #expect(waiting.executed.isEmpty)
    #expect(waiting.held.contains { $0.reason.contains("switch traffic to it with `agent promote api`") })
    #expect(try h.store.approvePromotion("api", at: Date()))
    #expect(!(try h.store.approvePromotion("api", at: Date())), "approved once")
    let promoted = try h.apply()
    #expect(promoted.executed.map(\.action.verb) == [.rollout])
    #expect(try h.answering() == [2, 2])
    #expect(h.record?.rollout == nil)
  }

  @Test func aRevisionThatNeverTurnsHealthyRollsBackIsMarkedFailedAndIsHeld() throws {
    let h = try ServingHarness()
    try h.commit(version: 1, strategy: "{type: canary, steps: [{weight: 50, pause: 0s}]}")
    _ = try h.apply()
    try h.commit(
      version: 2, strategy: "{type: canary, steps: [{weight: 50, pause: 0s}]}", env: "{UNHEALTHY: \"1\"}",
      extra: "  progressDeadline: 2s")
    let started = Date()
    let report = try h.apply()
    #expect(Date().timeIntervalSince(started) < 15, "the 2s progress deadline, not the 20s startup timeout")
    #expect(report.failed)
    let error = try #require(report.executed.last?.error)
    #expect(error.contains("rollout to v2/"))
    #expect(error.contains("failed and was rolled back"))
    #expect(try h.answering() == [1, 1])
    #expect(h.record?.active?.modelVersion == 1)
    #expect(h.record?.rollout == nil)
    #expect(h.router.all.last?.canary.isEmpty == true)
    #expect(try h.store.failedRevisions(of: "api").map(\.revision.modelVersion) == [2])
    #expect(try h.store.events(named: "api").contains { $0.kind == "rollback" })
    // Held, not retried, until `agent retry` (or a new desired revision).
    let again = try h.apply()
    #expect(again.executed.isEmpty)
    #expect(again.held.contains { $0.resource.name == "api" && $0.reason.contains("was rolled back") })
  }

  @Test func aManualRollbackReturnsToThePreviousRevisionAndMarksTheCurrentFailed() throws {
    let h = try ServingHarness()
    try h.commit(version: 1, strategy: "{type: rolling}")
    _ = try h.apply()
    try h.commit(version: 2, strategy: "{type: rolling}")
    _ = try h.apply()
    let detail = try h.rollback()
    #expect(detail.hasPrefix("v2/"), "\(detail)")
    #expect(try h.answering() == [1, 1])
    #expect(h.record?.active?.modelVersion == 1)
    #expect(try h.store.failedRevisions(of: "api").map(\.revision.modelVersion) == [2])
    #expect(try h.apply().executed.isEmpty, "the rolled-back revision is held")
    #expect(try h.store.clearFailed(deployment: "api") == 1)
    let retried = try h.apply()
    #expect(retried.executed.map(\.action.verb) == [.rollout])
    #expect(try h.answering() == [2, 2])
  }

  @Test func thePreviousRevisionKeepsRunningOutOfTrafficForTheScaleDownDelaySoARollbackIsInstant() throws {
    let h = try ServingHarness()
    try h.commit(version: 1, strategy: "{type: bluegreen}", scaleDownDelay: "30s")
    _ = try h.apply()
    let v1 = Set(try h.store.replicas().compactMap(\.pid))
    try h.commit(version: 2, strategy: "{type: bluegreen}", scaleDownDelay: "30s")
    #expect(try !h.apply().failed)
    // v1 still runs, but only v2 takes traffic.
    #expect(try h.answering() == [1, 1, 2, 2])
    #expect(h.router.all.last?.stable.map(\.version) == [2, 2])
    #expect(h.router.all.last?.canary.isEmpty == true)
    #expect(h.serving.scaleDown() == 0, "not due yet")
    // A rollback within the delay switches back to the running v1 replicas: none is started.
    let started = Date()
    let detail = try h.rollback()
    let took = Date().timeIntervalSince(started)
    #expect(detail.hasPrefix("v2/"), "\(detail)")
    #expect(Set(try h.store.replicas().compactMap(\.pid)) == v1, "the kept replicas serve again; v2's stopped")
    #expect(h.router.all.last?.stable.map(\.version) == [1, 1])
    #expect(took < 5, "no replica had to start (took \(took) s)")
    // After a switch the previous replicas stop once the delay is over.
    try h.commit(version: 3, strategy: "{type: bluegreen}", scaleDownDelay: "30s")
    #expect(try !h.apply().failed)
    #expect(try h.answering() == [1, 1, 3, 3])
    // The supervisor only sees that the delay is over; the reconcile pass stops the replicas.
    #expect(!h.serving.scaleDownDue())
    #expect(h.serving.scaleDownDue(now: Date().addingTimeInterval(31)))
    #expect(try h.answering() == [1, 1, 3, 3])
    #expect(h.serving.scaleDown(now: Date().addingTimeInterval(31)) == 2)
    #expect(!h.serving.scaleDownDue(now: Date().addingTimeInterval(31)))
    #expect(try h.answering() == [3, 3])
  }

  @Test func retainCollectsOnlyArtifactsThatNeverHeldAnAliasAndServeNothing() throws {
    let h = try ServingHarness()
    try h.commit(version: 1, strategy: "{type: rolling}")
    _ = try h.apply()
    try h.commit(version: 3, strategy: "{type: rolling}", retain: 1)
    let report = try h.apply()
    #expect(!report.failed, "\(report.executed.map(\.error))")
    let versions = try h.store.versions(model: "m")
    #expect(
      versions.filter { $0.collectedAt != nil }.map(\.version) == [2], "v1 held an alias and is the rollback target")
    let folder = { (v: Int) in
      h.registry.artifactFolder(String(versions[v - 1].artifactDigest?.dropFirst("sha256:".count) ?? ""))
    }
    #expect(!FileManager.default.fileExists(atPath: folder(2).path))
    #expect(FileManager.default.fileExists(atPath: folder(1).path))
    #expect(FileManager.default.fileExists(atPath: folder(3).path))
    #expect(try h.store.events(named: "m").contains { $0.kind == "gc" && $0.message.contains("v2") })
    #expect(throws: RegistryError.self) { try h.registry.servingFolder(model: "m", version: 2) }
    #expect(try h.apply().executed.isEmpty, "collected once")
  }

  @Test func aReplicaThatDiesIsMarkedExitedAndReplacedOnTheNextApply() throws {
    let h = try ServingHarness()
    try h.commit(version: 1, strategy: "{type: rolling}")
    _ = try h.apply()
    let victim = try #require(try h.store.replicas().first)
    kill(try #require(victim.pid), SIGKILL)
    usleep(200_000)
    let report = try h.apply()
    #expect(report.executed.map(\.action.verb) == [.replace], "\(report.executed.map(\.action.reason))")
    #expect(report.executed.first?.action.reason == "1 replica exited")
    #expect(try h.answering() == [1, 1])
    #expect(!(try h.store.replicas().contains { $0.id == victim.id }))
  }

  @Test func aStartingReplicaNobodyWaitsForIsProbedIntoTheRoutes() throws {
    // As after an agent restarted while healing: the replica runs, its record still says starting.
    let h = try ServingHarness()
    try h.commit(version: 1, strategy: "{type: rolling}")
    _ = try h.apply()
    let replica = try #require(try h.store.replicas().first)
    #expect(try h.store.updateReplicaHealth(replica.id, health: .starting, failures: 0))
    h.serving.publishRoutes()
    #expect(h.router.all.last?.stable.count == 1, "a starting replica is out of the routes")
    h.serving.probe()
    #expect(try h.store.replicas().first { $0.id == replica.id }?.health == .healthy)
    #expect(h.router.all.last?.stable.count == 2, "probed healthy, it is routed again")
  }
}

extension ServingHarness {
  func desiredDeployment() throws -> Deployment {
    let git = try GitRepository.open(repo.path)
    let commit = try git.resolve("HEAD")
    let result = ManifestReader(path: "manifests").load(git.tree(at: commit))
    return try #require(result.manifests.deployments["api"])
  }
}
