import Drivers
import Foundation
import Testing

/// The crash matrix: the agent is killed (SIGKILL, nothing cleaned up) at each point between two
/// of its writes while it trains, registers, promotes and rolls out the quickstart, then started
/// again; the next agent must end where an uninterrupted one would, with no run, version, alias
/// tenure, event or replica lost or twice. The points are reached through `MODELOPS_CRASH_AT`,
/// which only test builds read (`CrashPoint`).
@Suite(.serialized) struct CrashMatrixTests {
  static let firstDeployment = [
    "train.intent", "train.done", "train.journaled", "register.recorded", "promote.intent", "promote.done",
    "promote.journaled", "rollout.intent", "rollout.done", "rollout.finish", "rollout.journaled",
  ]

  /// Starts an agent that kills itself at `point`; true once it did.
  static func crash(at point: String, config: String, api: Int, repo: ExampleRepository) throws -> Bool {
    let agent = try RunningAgent(
      config: config, port: api, environment: ["MODELOPS_CRASH_AT": point],
      log: repo.scratch.url.appendingPathComponent("crash-\(point).log"))
    _ = agent.waitUntil(120) { false }  // returns as soon as the agent is gone
    return !agent.process.isRunning && agent.process.terminationReason == .uncaughtSignal
      && agent.process.terminationStatus == SIGKILL
  }

  /// What the state and the host hold: versions, runs, alias tenures, events, replica processes.
  static func inventory(_ repo: ExampleRepository) throws -> (
    versions: [Int], runs: Int, tenures: Int, events: [String: Int], replicas: Int
  ) {
    let models = try run(agentBinary(), ["models", "iris-classifier", "--format", "json", "--state", repo.state])
    let list = (try? JSONSerialization.jsonObject(with: Data(models.stdout.utf8)) as? [[String: Any]]) ?? []
    let runs = try FileManager.default.contentsOfDirectory(atPath: repo.state + "/runs").filter { !$0.hasPrefix(".") }
    let history = try run(agentBinary(), ["history", "--format", "json", "--state", repo.state]).stdout
    let events = (try? JSONSerialization.jsonObject(with: Data(history.utf8)) as? [[String: Any]]) ?? []
    var kinds: [String: Int] = [:]
    for event in events { kinds[event["kind"] as? String ?? "?", default: 0] += 1 }
    let script = """
      import sqlite3, sys
      print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM alias_history").fetchone()[0])
      """
    let tenures = try run(URL(fileURLWithPath: "/usr/bin/python3"), ["-c", script, repo.state + "/state.db"])
    return (
      list.compactMap { $0["version"] as? Int }.sorted(), runs.count,
      Int(tenures.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1, kinds,
      ExampleRepository.processes(under: repo.state).count
    )
  }

  @Test(arguments: firstDeployment) func aKillAtAnyPointOfTheFirstDeploymentLosesAndRepeatsNothing(point: String)
    throws
  {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort()
    let (config, api) = try repo.localAgentConfig()
    #expect(try Self.crash(at: point, config: config, api: api, repo: repo), "the agent did not reach \(point)")

    let agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    #expect(agent.waitUntil(120) { ServingTests.predict(listen) == 1 }, "\(point)\n\(log())")
    #expect(agent.waitUntil(60) { agent.healthyReplicas("iris-api", version: 1) == 2 }, "\(point)\n\(log())")
    let found = try Self.inventory(repo)
    #expect(found.versions == [1], "\(point): \(found)")
    #expect(found.runs == 1, "\(point): \(found)")
    #expect(found.tenures == 1, "\(point): production's tenure, once: \(found)")
    #expect(found.replicas == 2, "\(point): \(found)")
    // An action killed before its end was journaled is said once, as `interrupted`, by the next agent.
    let open = point.hasSuffix(".intent") || point.hasSuffix(".done") || point == "rollout.finish"
    #expect(found.events["interrupted", default: 0] == (open ? 1 : 0), "\(point): \(found)")
    // An event is written after its action is journaled: one killed in between has none, never two.
    for kind in ["promote", "rollout", "train-failed", "rollout-failed", "rollback"] {
      #expect(
        (found.events[kind] ?? 0) <= (kind.hasSuffix("failed") || kind == "rollback" ? 0 : 1), "\(point): \(found)")
    }
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }

  /// A kill while a canary step is saved but not yet routed: the next agent resumes the step (its
  /// pause is data), finishes the rollout once, and keeps two replicas.
  @Test func aKillAtACanaryStepResumesItOnce() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort(canarySteps: "      - {weight: 50, pause: 2s}\n")
    let (config, api) = try repo.localAgentConfig()
    var agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run1.log"))
    #expect(agent.waitUntil(120) { ServingTests.predict(listen) == 1 })
    #expect(agent.terminate(within: 20) == 0)
    try repo.edit("manifests/pipelines/iris-train.yaml") { $0.replacing(#/seed: "\d+"/#, with: "seed: \"8\"") }
    try repo.commit("seed 8")
    #expect(try Self.crash(at: "rollout.step", config: config, api: api, repo: repo))

    agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run2.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    #expect(agent.waitUntil(120) { ServingTests.sample(listen, 10).allSatisfy { $0 == 2 } }, "\(log())")
    #expect(agent.waitUntil(30) { ExampleRepository.processes(under: repo.state).count == 2 }, "\(log())")
    let found = try Self.inventory(repo)
    #expect(found.versions == [1, 2], "\(found)")
    #expect(found.runs == 2, "\(found)")
    #expect(found.events["rollout"] == 2 && found.events["rollback"] == nil, "\(found)")
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }
}
