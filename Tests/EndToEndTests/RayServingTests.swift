import Drivers
import Foundation
import ModelOpsCore
import ModelOpsTesting
import Testing

extension RayTests {
  /// The quickstart trained as Ray jobs and served as Serve applications, behind the router on a
  /// free port; the canary holds each step for `pause`. A foreign application is deployed on the
  /// cluster first: the agent must leave it alone.
  static func rayServingRepository(cluster: RayCluster, pause: String) throws -> (ExampleRepository, String, Int, Int) {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort(canarySteps: "      - {weight: 50, pause: \(pause)}\n")
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(
        of: "  workdir: training\n", with: "  workdir: training\n  runtime: ray\n  resources: {cpus: 1}\n")
    }
    try repo.edit("manifests/deploy/iris-api.yaml") {
      $0.replacingOccurrences(
        of: "  runtime: process\n  command: [\"python3\", \"serving/serve.py\"]\n",
        with: """
            runtime: ray
            ray:
              importPath: serving.ray_app:app
              deployment: Model
              replicas: 1
              actorOptions: {cpus: 0.25}

          """
      )
      .replacingOccurrences(of: "  replicas: 2\n", with: "")
      .replacingOccurrences(of: "    path: /healthz\n", with: "")
      .replacingOccurrences(of: "  resources: {memory: 256Mi, cpus: \"0.5\"}\n", with: "")
      .replacingOccurrences(of: "startupTimeout: 30s", with: "startupTimeout: 90s")
    }
    try repo.commit("train and serve on Ray")
    let (config, port) = try repo.localAgentConfig()
    try repo.scratch.write(
      "agent.yaml",
      try String(contentsOfFile: config, encoding: .utf8)
        + "\nray: {address: \(cluster.address), serve: {host: 127.0.0.1, port: \(cluster.servePort)}}\n")
    return (repo, config, port, listen)
  }

  /// The versions that answered `count` predictions through the router (errors as "error").
  static func predictions(_ listen: Int, count: Int) -> [String: Int] {
    var seen: [String: Int] = [:]
    for _ in 0..<count {
      let answer = try? HTTPClient.request(
        "POST", "http://127.0.0.1:\(listen)/predict", headers: ["Content-Type": "application/json"],
        body: Data(#"{"features": [1, 2, 3, 4]}"#.utf8), timeout: 5)
      let object = answer.flatMap { try? JSONSerialization.jsonObject(with: $0.body) as? [String: Any] }
      let version = answer?.status == 200 ? (object?["version"] as? String ?? "?") : "error"
      seen[version, default: 0] += 1
    }
    return seen
  }

  /// One cluster, in order: serving, a canary, a rollback, a failed import, then the cluster
  /// stopped mid-rollout (last: the cluster is gone after it).
  @Test func revisionsServeAsServeApplicationsWithACanaryRollbacksClearErrorsAndRayStopped() throws {
    let cluster = try RayCluster()
    let (repo, config, port, listen) = try Self.rayServingRepository(cluster: cluster, pause: "20s")
    let serve = RayServe(
      dashboard: RayDashboard(address: cluster.address), proxyHost: "127.0.0.1", proxyPort: cluster.servePort)
    // Someone else's application, which every PUT of the agent must keep.
    var foreign = ServeApplication(
      name: "someone-else", importPath: "serving.ray_app:app", workingDir: try Self.foreignPackage(cluster),
      env: ["MODELOPS_MODEL_PATH": "model"])
    foreign.deployment = ServeApplication.Override(name: "Model")
    foreign.deployment?.cpus = 0.1
    try serve.deploy(foreign)
    let agent = try RunningAgent(config: config, port: port, log: repo.scratch.url.appendingPathComponent("agent.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    #expect(agent.waitUntil(240) { Self.predictions(listen, count: 1)["1"] == 1 }, "\(log())")

    // v2 rolls out as a canary: both versions answer through the one endpoint while it holds.
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "7""#, with: #"seed: "8""#)
    }
    try repo.commit("v2")
    var split: [String: Int] = [:]
    #expect(
      agent.waitUntil(240) {
        split = Self.predictions(listen, count: 30)
        return (split["1"] ?? 0) > 0 && (split["2"] ?? 0) > 0
      }, "\(split)\n\(log())")
    #expect(agent.waitUntil(120) { Self.predictions(listen, count: 10) == ["2": 10] }, "\(log())")

    // v3 raises on every request: the router's error rate fires the monitor, which rolls it back.
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "8""#, with: #"seed: "8", fault_rate: "1""#)
    }
    try repo.commit("v3 fails every request")
    #expect(
      agent.waitUntil(240) {
        _ = Self.predictions(listen, count: 5)
        return log().contains("rolled back to v2")
      }, "\(log())")
    #expect(log().contains("monitor 'iris-api-errors' fired during the rollout"), "\(log())")
    #expect(Self.predictions(listen, count: 10) == ["2": 10])
    // v3's application is gone from the cluster, v1's was scaled down; the foreign one stays.
    #expect(
      agent.waitUntil(60) {
        let names = Set(((try? serve.applications()) ?? [:]).keys)
        return names.contains("someone-else") && !names.contains(where: { $0.contains("-v3-") || $0.contains("-v1-") })
      }, "\((try? serve.applications().keys.sorted()) ?? [])")
    // Drift: v2's application deleted behind the agent's back is deployed again, and serves.
    let v2 = try #require(try serve.applications().keys.first { $0.contains("-v2-") })
    try serve.remove([v2])
    #expect(
      agent.waitUntil(180) {
        (try? serve.applications()[v2]?.status) == "RUNNING" && Self.predictions(listen, count: 5) == ["2": 5]
      }, "\(log())")
    // An application whose import fails: its rollout fails with the tail of Ray's traceback.
    try repo.edit("manifests/deploy/iris-api.yaml") {
      $0.replacingOccurrences(of: "serving.ray_app:app", with: "serving.missing_module:app")
    }
    try repo.commit("an import path that does not exist")
    #expect(
      agent.waitUntil(180) { log().contains("No module named 'serving.missing_module'") }, "\(log())")
    #expect(log().contains("failed to deploy"))
    #expect(Self.predictions(listen, count: 5) == ["2": 5])
    try repo.edit("manifests/deploy/iris-api.yaml") {
      $0.replacingOccurrences(of: "serving.missing_module:app", with: "serving.ray_app:app")
    }
    // A new revision while the cluster is stopped: the rollout cannot start it.
    try repo.edit("manifests/deploy/iris-api.yaml") {
      $0.replacingOccurrences(of: "env: {LOG_LEVEL: info}", with: "env: {LOG_LEVEL: debug}")
    }
    cluster.stop()
    try repo.commit("a new revision while Ray is down")
    let status = { String(decoding: agent.get("/api/v1/status")?.body ?? Data(), as: UTF8.self) }
    #expect(
      agent.waitUntil(90) { status().contains("cannot reach the Ray dashboard at \(cluster.address)") },
      "\(status())\n\(log())")
    let routes = try #require(agent.get("/metrics")).body
    #expect(
      String(decoding: routes, as: UTF8.self).contains("modelops_rollout_weight{deployment=\"iris-api\"} 0"),
      "\(String(decoding: routes, as: UTF8.self))")
    _ = agent.terminate(within: 20)
  }

  /// A working_dir with the quickstart's Serve app and a model, uploaded like the agent's.
  static func foreignPackage(_ cluster: RayCluster) throws -> String {
    let app = try Data(contentsOf: repositoryRoot.appendingPathComponent("examples/quickstart/serving/ray_app.py"))
    let weights = Data(#"{"features": ["a", "b", "c", "d"], "weights": [0, 0, 0, 0], "bias": 0}"#.utf8)
    let zip = try ZipArchive.write(
      folder: URL(fileURLWithPath: "/nonexistent"),
      extra: ["serving/ray_app.py": app, "serving/__init__.py": Data(), "model/weights.json": weights])
    return try RayDashboard(address: cluster.address).ensurePackage(name: "_ray_pkg_foreign_test.zip") { zip }
  }
}
