import Drivers
import Foundation
import ModelOpsTesting
import Testing

/// `agent run` on the docker runtime, against podman's Docker-compatible service started by the
/// tests: the quickstart trains in containers of a locally built python image, serves two
/// container replicas through the router, rolls out a canary, heals, is adopted after a restart,
/// and refuses a missing image on the deployment.
@Suite struct DockerTests {
  @Test func theQuickstartOnTheDockerRuntimeRollsOutACanaryThroughTheRouter() throws {
    let service = try PodmanService.shared()
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort(canarySteps: "      - {weight: 50, pause: 8s}\n")
    try repo.edit("manifests/deploy/iris-api.yaml") {
      $0.replacingOccurrences(of: "  runtime: process\n", with: "  image: \(service.pythonImage)\n")
        .replacingOccurrences(of: "env: {LOG_LEVEL: info}", with: "env: {LOG_LEVEL: info, BIND: 0.0.0.0}")
    }
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(
        of: "  workdir: training\n", with: "  workdir: training\n  image: \(service.pythonImage)\n")
    }
    try repo.commit("docker runtime")
    let (config, api) = try repo.localAgentConfig()
    try repo.edit("agent.yaml") { $0 + "\nruntime: {type: docker, socket: \(service.socket)}\n" }
    let owner = DockerRuntime.owner(stateFolder: repo.state)
    let containers = {
      ((try? service.engine.list(labels: [DockerRuntime.Label.owner: owner, DockerRuntime.Label.deployment: "iris-api"]))
        ?? []).filter { $0.state == "running" }
    }
    defer { service.removeContainers(label: DockerRuntime.Label.owner, owner) }
    var agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run1.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }

    // Trained in containers, served by two containers through the router.
    #expect(agent.waitUntil(180) { ServingTests.predict(listen) == 1 }, "\(log())")
    // Both replicas healthy (the first answers once one is): a replica removed while the first
    // rollout still starts it fails that rollout, which is not what this test is about.
    #expect(agent.waitUntil(60) { agent.healthyReplicas("iris-api", version: 1) == 2 }, "\(log())")
    #expect(ServingTests.sample(listen, 20).allSatisfy { $0 == 1 })
    let first = containers()
    #expect(first.count == 2)
    #expect(first.allSatisfy { $0.labels[DockerRuntime.Label.revision]?.hasPrefix("v1/") == true })
    #expect(ServingTests.replicaPIDs(repo).isEmpty, "no replica runs as a process of the host")
    let runs = try run(agentBinary(), ["history", "iris-train", "--state", repo.state]).stdout
    let runID = try #require(runs.firstMatch(of: #/iris-train-\d{8}-\d{6}-[0-9a-f]{4}/#).map { String($0.0) })
    let runLog = try run(agentBinary(), ["logs", runID, "--state", repo.state]).stdout
    #expect(runLog.contains("==> step train"), "\(runLog)")
    #expect(runLog.contains("accuracy"), "the step's output, read from its container: \(runLog)")
    #expect(
      try service.engine.list(labels: [DockerRuntime.Label.owner: owner, DockerRuntime.Label.run: runID]).isEmpty,
      "step containers are removed once they end")
    let info = try #require(try service.engine.inspect(first[0].id))
    #expect(info.hostConfig?.memory == 256 << 20)
    #expect(info.hostConfig?.nanoCpus == 500_000_000)

    // A container removed behind the agent's back is replaced.
    try service.engine.remove(first[0].id)
    #expect(
      agent.waitUntil(40) {
        let now = containers(); return now.count == 2 && !now.map(\.id).contains(first[0].id)
      })
    let afterRemoval = ServingTests.sample(listen, 10)
    #expect(afterRemoval.allSatisfy { $0 == 1 }, "\(afterRemoval) \(log())")

    // A new commit retrains; the canary's 50 % split shows in the responses; then all on v2.
    try repo.edit("manifests/pipelines/iris-train.yaml") { $0.replacing(#/seed: "\d+"/#, with: "seed: \"8\"") }
    try repo.commit("seed 8")
    #expect(agent.waitUntil(180) { ServingTests.sample(listen, 4).contains(2) }, "\(log())")
    let split = ServingTests.sample(listen, 60)
    #expect(split.allSatisfy { $0 == 1 || $0 == 2 })
    let onCanary = split.filter { $0 == 2 }.count
    #expect(onCanary > 10 && onCanary < 50, "\(onCanary) of 60 answered by v2 at weight 50")
    #expect(agent.waitUntil(60) { ServingTests.sample(listen, 10).allSatisfy { $0 == 2 } }, "\(log())")
    #expect(agent.waitUntil(30) { containers().count == 2 }, "v1's containers are removed after the scale-down delay")
    let serving = Set(containers().map(\.id))
    #expect(containers().allSatisfy { $0.labels[DockerRuntime.Label.revision]?.hasPrefix("v2/") == true })

    // Restarted, the agent adopts the running containers instead of starting others: by the id it
    // recorded, or by label for a replica whose container id it never saved (as when an agent dies
    // between creating a container and recording it). A labelled container no record names goes.
    #expect(agent.terminate(within: 20) == 0, "\(log())")
    #expect(Set(containers().map(\.id)) == serving, "containers outlive the agent")
    let forget =
      "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
      + "db.execute('UPDATE replica SET container_id = NULL WHERE id = (SELECT min(id) FROM replica)'); db.commit()"
    #expect(try run(URL(fileURLWithPath: "/usr/bin/python3"), ["-c", forget, repo.state + "/state.db"]).status == 0)
    var stray = ContainerSpec(name: "modelops-iris-api-stray-\(owner)", image: service.pythonImage)
    stray.command = ["python3", "-c", "import time; time.sleep(300)"]
    stray.labels = [
      DockerRuntime.Label.owner: owner, DockerRuntime.Label.deployment: "iris-api",
      DockerRuntime.Label.replica: "iris-api-v9-stray",
    ]
    let strayID = try service.engine.create(stray)
    try service.engine.start(strayID)
    #expect(containers().count == 3)
    agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run2.log"))
    #expect(agent.waitUntil(60) { ServingTests.sample(listen, 10).allSatisfy { $0 == 2 } }, "\(log())")
    #expect(agent.waitUntil(30) { Set(containers().map(\.id)) == serving }, "\(log())")
    // The first pass adopts and removes one container after the other (stopping the stray takes
    // a moment): both lines come within the pass, not necessarily by the time traffic is checked.
    #expect(agent.waitUntil(30) { log().contains("adopted container") }, "\(log())")
    #expect(log().contains("no replica record names it"), "\(log())")
    let strayGone = {
      if case .some(.none) = try? service.engine.inspect(strayID) { return true } else { return false }
    }
    #expect(agent.waitUntil(30) { strayGone() }, "the stray is removed")

    // An image the engine does not have fails the rollout with a clear error; v2 keeps serving.
    try repo.edit("manifests/deploy/iris-api.yaml") {
      $0.replacingOccurrences(of: "image: \(service.pythonImage)", with: "image: localhost/not-built:1")
    }
    try repo.commit("missing image")
    let status = { (try? run(agentBinary(), ["status", "--state", repo.state]).stdout) ?? "" }
    let history = { (try? run(agentBinary(), ["history", "iris-api", "--state", repo.state]).stdout) ?? "" }
    #expect(
      agent.waitUntil(60) { history().contains("image localhost/not-built:1 is not on the docker engine") },
      "\(history())\n\(status())\n\(log())")
    #expect(ServingTests.sample(listen, 10).allSatisfy { $0 == 2 })
    #expect(Set(containers().map(\.id)) == serving, "\(log())")
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }
}
