import Drivers
import Foundation
import Testing

/// The serving story end to end, on the built binary, real processes and a real git repository:
/// serve through the router, self-heal, a canary whose split shows in responses, `kill -9` of the
/// agent mid-rollout (adopted, no duplicate, finished), and an invalid commit that changes nothing.
@Suite struct ServingTests {
  /// One prediction through the deployment's stable endpoint: the version that answered, or nil.
  static func predict(_ port: Int, features: [Double] = [120, 3, 40, 2]) -> Int? {
    let list = features.map { "\($0)" }.joined(separator: ", ")
    let body = "{\"features\": [\(list)]}"
    guard
      let response = try? HTTPClient.request(
        "POST", "http://127.0.0.1:\(port)/predict", headers: ["Content-Type": "application/json"],
        body: Data(body.utf8), timeout: 5),
      response.status == 200
    else { return nil }
    return response.headers["x-model-version"].flatMap { Int($0) }
  }

  /// Versions answering `count` predictions (nil entries: failed requests).
  static func sample(_ port: Int, _ count: Int) -> [Int?] { (0..<count).map { _ in predict(port) } }

  static func replicaPIDs(_ repo: ExampleRepository) -> Set<Int32> {
    Set(ExampleRepository.processes(under: repo.state))
  }

  func newSeed(_ repo: ExampleRepository, _ seed: Int) throws {
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacing(#/seed: "\d+"/#, with: "seed: \"\(seed)\"")
    }
    try repo.commit("seed \(seed)")
  }

  @Test func servesThroughTheRouterHealsRollsOutByCanaryAndSurvivesAKilledAgent() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort(canarySteps: "      - {weight: 50, pause: 8s}\n")
    let (config, api) = try repo.localAgentConfig()
    var agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run1.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }

    // commit → train → register → promote → serve: v1 answers through the router.
    #expect(agent.waitUntil(120) { Self.predict(listen) == 1 }, "\(log())")
    #expect(Self.sample(listen, 20).allSatisfy { $0 == 1 })
    // The endpoint serves from the first healthy replica on; the second may still be starting.
    #expect(agent.waitUntil(60) { agent.healthyReplicas("iris-api", version: 1) == 2 }, "\(log())")
    // The rollout over (a replica killed before then is replaced by the rollout itself).
    let history = { (try? run(agentBinary(), ["history", "iris-api", "--state", repo.state]).stdout) ?? "" }
    #expect(agent.waitUntil(30) { history().contains("rollout") }, "\(history())\n\(log())")
    let first = Self.replicaPIDs(repo)
    #expect(first.count == 2)

    // A replica killed by hand is replaced; the endpoint keeps answering.
    let victim = try #require(first.sorted().first)
    kill(victim, SIGKILL)
    #expect(
      agent.waitUntil(30) {
        let now = Self.replicaPIDs(repo); return now.count == 2 && !now.contains(victim)
      }, "\(log())")
    #expect(Self.sample(listen, 20).allSatisfy { $0 == 1 }, "\(log())")
    #expect(agent.waitUntil(30) { history().contains("replace") }, "\(history())\n\(log())")

    // A new commit retrains, and the canary's 50% split is visible in the responses.
    try newSeed(repo, 8)
    #expect(agent.waitUntil(120) { Self.sample(listen, 4).contains(2) }, "\(log())")
    let split = Self.sample(listen, 60)
    #expect(split.allSatisfy { $0 == 1 || $0 == 2 })
    let onCanary = split.filter { $0 == 2 }.count
    #expect(onCanary > 10 && onCanary < 50, "\(onCanary) of 60 answered by v2 at weight 50")
    #expect(agent.waitUntil(60) { Self.sample(listen, 10).allSatisfy { $0 == 2 } })
    #expect(agent.waitUntil(20) { Self.replicaPIDs(repo).count == 2 })

    // kill -9 of the agent mid-rollout: the next one adopts the replicas and finishes.
    try newSeed(repo, 9)
    #expect(agent.waitUntil(120) { Self.sample(listen, 4).contains(3) }, "\(log())")
    kill(agent.process.processIdentifier, SIGKILL)
    agent.process.waitUntilExit()
    let running = Self.replicaPIDs(repo)
    #expect(running.count == 3, "two of v2 and the canary of v3")
    agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run2.log"))
    #expect(agent.waitUntil(60) { Self.sample(listen, 10).allSatisfy { $0 == 3 } }, "\(log())")
    #expect(agent.waitUntil(20) { Self.replicaPIDs(repo).count == 2 })
    #expect(log().contains("resuming at step 0, 50% of traffic on v3/"))
    #expect(!log().contains("… Pipeline/iris-train train"), "the restart trains nothing again")
    let adopted = Self.replicaPIDs(repo)
    #expect(adopted.intersection(running).count == 1, "the canary replica was adopted, not started again")

    // An invalid commit applies nothing: v3 keeps serving.
    try repo.edit("manifests/deploy/iris-api.yaml") {
      $0.replacingOccurrences(of: "replicas: 2", with: "replicas: two")
    }
    try repo.commit("invalid")
    #expect(agent.waitUntil(30) { agent.metric("modelops_head_invalid") == 1 })
    #expect(Self.sample(listen, 10).allSatisfy { $0 == 3 })
    #expect(Self.replicaPIDs(repo) == adopted)

    let router = ExampleRepository.router(of: repo.state)
    #expect(router != nil)
    #expect(agent.terminate(within: 20) == 0, "\(log())")
    // Replicas and the router outlive the agent: the endpoint keeps answering.
    #expect(Self.replicaPIDs(repo) == adopted)
    #expect(Self.sample(listen, 10).allSatisfy { $0 == 3 })
    #expect(ExampleRepository.router(of: repo.state) == router)
  }
}

@Suite struct AgentAPITests {
  @Test func theAPIAnswersStatusPlanEventsModelsAndRunsAndRollsBackOnRequest() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort(canarySteps: "      - {weight: 50, pause: 1s}\n")
    let (config, api) = try repo.localAgentConfig(token: "{env: TEST_API_TOKEN}")
    let token = ["TEST_API_TOKEN": "t0ken", "MODELOPS_API_TOKEN": "t0ken"]
    let agent = try RunningAgent(
      config: config, port: api, environment: token,
      log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    #expect(agent.waitUntil(120) { ServingTests.predict(listen) == 1 }, "\(log())")
    let base = "http://127.0.0.1:\(api)/api/v1/"
    func get(_ path: String, token: String? = "t0ken") throws -> HTTPResponse {
      try HTTPClient.request(
        "GET", base + path, headers: token.map { ["Authorization": "Bearer \($0)"] } ?? [:], timeout: 10)
    }
    func json(_ response: HTTPResponse) -> Any? { try? JSONSerialization.jsonObject(with: response.body) }

    // The endpoint serves from the first healthy replica on; the second may still be starting.
    #expect(agent.waitUntil(60) { agent.healthyReplicas("iris-api", version: 1) == 2 }, "\(log())")
    let metrics = String(decoding: agent.get("/metrics")?.body ?? Data(), as: UTF8.self)
    #expect(metrics.contains(#"modelops_replicas{deployment="iris-api",version="1",health="healthy"} 2"#), "\(metrics)")
    #expect(metrics.contains(#"modelops_rollout_weight{deployment="iris-api"} 0"#))
    #expect(try get("status", token: nil).status == 401)
    #expect(try get("status", token: "wrong").status == 401)
    #expect(try get("status").status == 200)
    // The pass after the second replica turned healthy finishes the deployment's creation.
    let health = {
      let rows = (try? get("status")).flatMap { json($0) as? [[String: Any]] } ?? []
      return rows.first { $0["name"] as? String == "iris-api" }?["health"] as? String
    }
    #expect(agent.waitUntil(30) { health() == "healthy" }, "\(health() ?? "-")")
    let plan = try #require(json(try get("plan")) as? [String: Any])
    #expect((plan["actions"] as? [Any])?.isEmpty == true)
    #expect(try get("plan?ref=no-such-ref").status == 404)
    let models = try #require(json(try get("models?name=iris-classifier")) as? [[String: Any]])
    #expect(models.count == 1)
    let runID = try #require((models.first?["lineage"] as? [String: String])?["run"])
    #expect((json(try get("runs/\(runID)")) as? [String: Any])?["status"] as? String == "succeeded")
    #expect(try get("runs/no-such-run").status == 404)
    let events = try #require(json(try get("events?name=iris-api")) as? [[String: Any]])
    #expect(events.contains { $0["kind"] as? String == "rollout" })
    #expect(try get("events?limit=0").status == 400)

    // A second version rolls out; `agent rollback --server` returns to v1 and holds v2.
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "7""#, with: #"seed: "8""#)
    }
    try repo.commit("seed 8")
    #expect(agent.waitUntil(120) { ServingTests.sample(listen, 10).allSatisfy { $0 == 2 } }, "\(log())")
    let server = ["--server", "http://127.0.0.1:\(api)"]
    let unknown = try run(agentBinary(), ["rollback", "nope"] + server, environment: token)
    #expect(unknown.status == 1)
    #expect(unknown.stderr.contains("404: no deployment named 'nope' is declared"))
    let rollback = try run(agentBinary(), ["rollback", "iris-api"] + server, environment: token)
    #expect(rollback.status == 0, "\(rollback.stderr)")
    #expect(agent.waitUntil(60) { ServingTests.sample(listen, 10).allSatisfy { $0 == 1 } }, "\(log())")
    let remoteStatus = try run(agentBinary(), ["status", "--wide"] + server, environment: token)
    #expect(remoteStatus.stdout.contains("degraded"), "\(remoteStatus.stdout)")
    #expect(remoteStatus.stdout.contains("was rolled back"))
    let history = try run(agentBinary(), ["history", "iris-api"] + server, environment: token)
    // v2 rolled back, whether its rollout had finished (v2 → v1) or was still in flight (aborted).
    #expect(
      history.stdout.contains("rollback  Deployment/iris-api  v2/")
        || history.stdout.contains("rollout to v2/a9a59d8 aborted"), "\(history.stdout)")
    let remoteModels = try run(agentBinary(), ["models", "--format", "json"] + server, environment: token)
    #expect(remoteModels.stdout.contains("\"version\" : 2"))
    // Still held after more cycles: the rolled-back revision is not retried on its own.
    #expect(!agent.waitUntil(3) { ServingTests.sample(listen, 5).contains(2) })
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }
}

@Suite struct AnalysisTests {
  /// The quickstart served (v1) by a running agent with a canary of `pause`; then a commit that
  /// trains v2 to answer half of its predictions with 500.
  func servingThenABadVersion(pause: String) throws -> (ExampleRepository, RunningAgent, Int) {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort(canarySteps: "      - {weight: 50, pause: \(pause)}\n")
    let (config, api) = try repo.localAgentConfig()
    let agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let served = agent.waitUntil(120) { ServingTests.predict(listen) == 1 }
    try #require(served, "\((try? String(contentsOf: agent.log, encoding: .utf8)) ?? "")")
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "7""#, with: #"seed: "8", fault_rate: "0.5""#)
    }
    try repo.commit("a bad version")
    return (repo, agent, listen)
  }

  @Test func aBadVersionFailsItsCanaryAnalysisRollsBackAndIsRejected() throws {
    let (repo, agent, listen) = try servingThenABadVersion(pause: "30s")
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    let models = {
      (try? run(agentBinary(), ["models", "iris-classifier", "--wide", "--state", repo.state]).stdout) ?? ""
    }
    // Traffic keeps flowing while the monitor judges v2 on its own requests (ratio > 0.05 for 4 s).
    #expect(
      agent.waitUntil(120) {
        _ = ServingTests.sample(listen, 10); return models().contains("v2") && models().contains("rejected:")
      }, "\(log())")
    // The step's analysis or the monitor's rollback action, whichever runs first, rejects it.
    #expect(models().contains("monitor 'iris-api-errors' fired"), "\(models())")
    // The router counted the bad version's errors apart from the stable version's answers.
    let errors = #"modelops_router_requests_total{deployment="iris-api",version="2",code="5xx"}"#
    #expect(
      (agent.metric(errors) ?? 0) > 0, "\(String(decoding: agent.get("/metrics")?.body ?? Data(), as: UTF8.self))")
    #expect((agent.metric(#"modelops_router_requests_total{deployment="iris-api",version="1",code="2xx"}"#) ?? 0) > 0)
    #expect(agent.waitUntil(30) { ServingTests.sample(listen, 20).allSatisfy { $0 == 1 } })
    let history = try run(agentBinary(), ["history", "--state", repo.state]).stdout
    #expect(history.contains("monitor-fired  Monitor/iris-api-errors"))
    #expect(history.contains("rollback  Deployment/iris-api"))
    // The policy alias returns to v1 (v2 is rejected), so nothing is held and v1 keeps serving.
    #expect(agent.waitUntil(30) { squeezed(models()).contains("iris-classifier v1 production") }, "\(models())")
    // A rejected version is not served again, even when asked for by hand.
    let back = try run(
      agentBinary(), ["rollback", "iris-api", "--to-version", "2", "--server", "http://127.0.0.1:\(agent.port)"])
    #expect(back.status == 1 && back.stderr.contains("answered 409") && back.stderr.contains("was rejected"), "\(back)")
    #expect(agent.waitUntil(20) { Set(ExampleRepository.processes(under: repo.state)).count == 2 })
    #expect(log().components(separatedBy: "… Deployment/iris-api rollout").count == 2, "no second rollout")
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }

  @Test func aCanaryNobodyCallsFailsItsAnalysisForWantOfData() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort(canarySteps: "      - {weight: 50, pause: 2s}\n")
    let (config, api) = try repo.localAgentConfig()
    let agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    #expect(agent.waitUntil(120) { ServingTests.predict(listen) == 1 }, "\(log())")
    // A good v2, but no request reaches the canary: the step ends without a value, waits the
    // monitor's two scrapes for one, and fails.
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "7""#, with: #"seed: "8""#)
    }
    try repo.commit("a version nobody calls")
    let status = {
      (try? run(agentBinary(), ["status", "--wide", "--server", "http://127.0.0.1:\(api)"]).stdout) ?? ""
    }
    #expect(
      agent.waitUntil(120) { status().contains("monitor 'iris-api-errors' had no data for v2 during the step") },
      "\(log())\n\(status())")
    #expect(status().contains("degraded"))
    #expect(ServingTests.sample(listen, 10).allSatisfy { $0 == 1 })
    // Not shown bad, so not rejected: v2 keeps the alias, held until `agent retry` (with traffic).
    let models = try run(agentBinary(), ["models", "iris-classifier", "--wide", "--state", repo.state]).stdout
    #expect(squeezed(models).contains("iris-classifier v2 production") && !models.contains("rejected:"), "\(models)")
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }

  @Test func aMonitorFiringAfterTheRolloutCompletedRollsBackToThePreviousVersion() throws {
    let (repo, agent, listen) = try servingThenABadVersion(pause: "1s")
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    // The 1 s canary step ends (once the monitor has a first value for v2: traffic flows) before
    // the monitor's 4 s `for`: v2 takes all traffic first...
    #expect(
      agent.waitUntil(120) {
        _ = ServingTests.sample(listen, 5); return log().contains("✓ Deployment/iris-api rollout v1/")
      }, "\(log())")
    // ...then the monitor fires on v2 and the deployment returns to v1, v2 rejected.
    #expect(
      agent.waitUntil(60) {
        _ = ServingTests.sample(listen, 10); return log().contains("✓ Deployment/iris-api rollback")
      }, "\(log())")
    #expect(ServingTests.sample(listen, 20).allSatisfy { $0 == 1 })
    let models = try run(agentBinary(), ["models", "iris-classifier", "--wide", "--state", repo.state]).stdout
    #expect(models.contains("monitor 'iris-api-errors' fired after the rollout"), "\(models)")
    #expect(agent.waitUntil(30) { Set(ExampleRepository.processes(under: repo.state)).count == 2 })
    // The monitor resolved with v2 gone: no rollback "back" to v2 follows.
    #expect(!agent.waitUntil(5) { log().components(separatedBy: "… Deployment/iris-api rollback").count > 2 })
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }
}
