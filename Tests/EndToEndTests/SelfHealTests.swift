import Drivers
import Foundation
import Testing

/// Self-heal in every state of a deployment, on the built binary with real replicas: after
/// `agent rollback` the deployment is held on its rolled-back revision, and a replica of the
/// revision serving that dies (while the agent runs, or while it is down) is still replaced.
@Suite struct SelfHealTests {
  /// Replica processes serving `version` (from their environment).
  static func replicas(_ repo: ExampleRepository, version: Int) -> [Int32] {
    ExampleRepository.processes(under: repo.state).filter { pid in
      let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
      return environ.split(separator: 0).contains { Data($0) == Data("MODELOPS_MODEL_VERSION=\(version)".utf8) }
    }
  }

  @Test func aHeldDeploymentHealsWhileTheAgentRunsAndAfterARestart() throws {
    let repo = try ExampleRepository(example: "quickstart")
    try repo.edit("manifests/deploy/iris-api.yaml") {
      $0.replacingOccurrences(of: "  analysis:\n    monitors: [iris-api-errors]\n", with: "")
    }
    let listen = try repo.listenOnFreePort(canarySteps: "      - {weight: 50, pause: 1s}\n")
    let (config, api) = try repo.localAgentConfig()
    let server = "http://127.0.0.1:\(api)"
    var agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    let status = { (try? run(agentBinary(), ["status", "--wide", "--server", server]).stdout) ?? "" }
    #expect(agent.waitUntil(120) { ServingTests.predict(listen) == 1 }, "\(log())")
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "7""#, with: #"seed: "8""#)
    }
    try repo.commit("v2")
    #expect(agent.waitUntil(120) { ServingTests.sample(listen, 10).allSatisfy { $0 == 2 } }, "\(log())")

    // Rolled back by hand: v1 serves, v2 (still desired) is held.
    let rollback = try run(agentBinary(), ["rollback", "iris-api", "--server", server])
    #expect(rollback.status == 0, "\(rollback.stderr)")
    #expect(agent.waitUntil(60) { Self.replicas(repo, version: 1).count == 2 && status().contains("held") }, "\(log())")
    #expect(agent.waitUntil(30) { ServingTests.sample(listen, 10).allSatisfy { $0 == 1 } })

    // A v1 replica killed in that state is replaced.
    let before = Set(Self.replicas(repo, version: 1))
    let victim = try #require(before.first)
    kill(victim, SIGKILL)
    #expect(
      agent.waitUntil(60) {
        let now = Set(Self.replicas(repo, version: 1))
        return now.count == 2 && !now.contains(victim) && agent.healthyReplicas("iris-api", version: 1) == 2
      }, "\(log())\n\(status())")

    // Both killed while no agent runs: the next agent replaces them at start.
    #expect(agent.terminate(within: 20) == 0, "\(log())")
    for pid in Self.replicas(repo, version: 1) { kill(pid, SIGKILL) }
    for _ in 0..<50 where !Self.replicas(repo, version: 1).isEmpty { usleep(100_000) }
    #expect(Self.replicas(repo, version: 1).isEmpty)
    agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run2.log"))
    #expect(agent.waitUntil(60) { ServingTests.sample(listen, 5).allSatisfy { $0 == 1 } }, "\(log())")
    #expect(agent.waitUntil(30) { agent.healthyReplicas("iris-api", version: 1) == 2 }, "\(log())")
    let shown = status()
    #expect(shown.contains("2/2 replicas healthy") && shown.contains("held"), "\(shown)")
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }
}
