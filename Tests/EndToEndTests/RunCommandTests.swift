import Drivers
import Foundation
import Testing

/// `agent run` as a child process, stopped with SIGTERM (and SIGKILL as a last resort).
final class RunningAgent {
  let process = Process()
  let port: Int
  let log: URL

  init(config: String, port: Int, environment: [String: String] = [:], log: URL) throws {
    self.port = port
    self.log = log
    process.executableURL = try agentBinary()
    process.arguments = ["run", "--config", config]
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    FileManager.default.createFile(atPath: log.path, contents: nil)
    let handle = try FileHandle(forWritingTo: log)
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
  }

  deinit {
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
  }

  func get(_ path: String) -> HTTPResponse? { try? HTTPClient.get("http://127.0.0.1:\(port)\(path)", timeout: 2) }

  /// Polls until `condition` holds, for at most `seconds`.
  func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if condition() { return true }
      if !process.isRunning { break }  // an agent that exited changes nothing more
      usleep(100_000)
    }
    return condition()
  }

  func metric(_ name: String) -> Double? {
    guard let body = get("/metrics")?.body else { return nil }
    for line in String(decoding: body, as: UTF8.self).split(separator: "\n") where line.hasPrefix(name + " ") {
      return Double(line.split(separator: " ")[1])
    }
    return nil
  }

  /// Healthy replicas of a deployment's model version, from `/metrics`.
  func healthyReplicas(_ deployment: String, version: Int) -> Int {
    let series = "modelops_replicas{deployment=\"\(deployment)\",version=\"\(version)\",health=\"healthy\"}"
    return metric(series).map { Int($0) } ?? 0
  }

  /// Sends SIGTERM; the exit status, or nil when it did not stop within `seconds`.
  func terminate(within seconds: Double) -> Int32? {
    kill(process.processIdentifier, SIGTERM)
    guard waitUntil(seconds, { !process.isRunning }) else { return nil }
    return process.terminationStatus
  }
}

@Suite struct RunCommandTests {
  func setUp(token: Bool = false) throws -> (ExampleRepository, Scratch, String, Int) {
    let repo = try ExampleRepository(example: "quickstart")
    let scratch = try Scratch()
    try repo.listenOnFreePort()
    try repo.git("clone", "-q", "--bare", repo.path, scratch.url.path + "/remote.git")
    let port = try FreePort.pick()
    let config = scratch.url.path + "/agent.yaml"
    try scratch.write(
      "agent.yaml",
      """
      source: {url: "file://\(scratch.url.path)/remote.git", branch: main, path: manifests, interval: 1s}
      state: \(repo.state)
      api:
        listen: 127.0.0.1:\(port)
      \(token ? "  token: {env: TEST_MODELOPS_API_TOKEN}" : "")
      """)
    return (repo, scratch, config, port)
  }

  @Test func theAgentTrainsRetrainsOnSyncKeepsTheLastValidCommitAndStopsOnSIGTERM() throws {
    let (repo, scratch, config, port) = try setUp()
    let agent = try RunningAgent(config: config, port: port, log: scratch.url.appendingPathComponent("agent.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    #expect(agent.waitUntil(90) { agent.get("/readyz")?.status == 200 }, "\(log())")
    #expect(agent.get("/healthz")?.status == 200)
    // Idle cycles parse nothing: the manifests tree is unchanged.
    #expect(agent.waitUntil(20) { (agent.metric("modelops_reconcile_cycles_total") ?? 0) >= 3 })
    #expect(agent.metric("modelops_manifest_parses_total") == 1)

    let second = try run(agentBinary(), ["run", "--config", config])
    #expect(second.status == 1)
    #expect(second.stderr.contains("another agent (pid \(agent.process.processIdentifier))"))

    let models = { try run(agentBinary(), ["models", "--wide", "--state", repo.state]).stdout }
    // Ready once the first pass has run: training goes on in the background.
    #expect(
      agent.waitUntil(90) { (try? squeezed(models()).contains("iris-classifier v1 production")) == true }, "\(log())")
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "7""#, with: #"seed: "8""#)
    }
    try repo.commit("new seed")
    try repo.git("push", "-q", scratch.url.path + "/remote.git", "main")
    let sync = try HTTPClient.request("POST", "http://127.0.0.1:\(port)/api/v1/sync", timeout: 5)
    #expect(sync.status == 202)
    #expect(
      agent.waitUntil(90) { (try? squeezed(models()).contains("iris-classifier v2 production")) == true }, "\(log())")

    try repo.edit("manifests/deploy/iris-api.yaml") { $0.replacingOccurrences(of: "replicas: 2", with: "replica: 2") }
    try repo.commit("typo")
    try repo.git("push", "-q", scratch.url.path + "/remote.git", "main")
    #expect(agent.waitUntil(30) { agent.metric("modelops_head_invalid") == 1 })
    let history = try run(agentBinary(), ["history", "--state", repo.state]).stdout
    #expect(history.contains("apply-failed"))
    #expect(history.contains("unknown field 'replica'"))
    #expect(!(try models().contains("v3")))

    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }

  @Test func theSyncAPINeedsTheConfiguredBearerToken() throws {
    let (repo, scratch, config, port) = try setUp(token: true)
    // The repository holds the state folder: it must outlive the agent (and then stops its replicas).
    defer { withExtendedLifetime(repo) {} }
    let agent = try RunningAgent(
      config: config, port: port, environment: ["TEST_MODELOPS_API_TOKEN": "s3cret"],
      log: scratch.url.appendingPathComponent("agent.log"))
    #expect(agent.waitUntil(90) { agent.get("/healthz")?.status == 200 })
    let url = "http://127.0.0.1:\(port)/api/v1/sync"
    #expect(try HTTPClient.request("POST", url, timeout: 5).status == 401)
    #expect(try HTTPClient.request("POST", url, headers: ["Authorization": "Bearer wrong"], timeout: 5).status == 401)
    #expect(try HTTPClient.request("POST", url, headers: ["Authorization": "Bearer s3cret"], timeout: 5).status == 202)
    #expect(!((try? String(contentsOf: agent.log, encoding: .utf8)) ?? "").contains("s3cret"))
    #expect(agent.terminate(within: 20) == 0)
  }
}
