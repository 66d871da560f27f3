import Drivers
import Foundation
import ModelOpsTesting
import Testing

/// A git remote that accepts connections and never answers, on the built binary: the fetch is
/// reported failed after `source.fetchTimeout`, and nothing else waits for it — a killed replica
/// is replaced while the fetch hangs.
@Suite struct StalledRemoteTests {
  @Test func aRemoteThatNeverAnswersDelaysNoSelfHeal() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort()
    let served = try Scratch()
    try gitCommand(["clone", "-q", "--bare", repo.path, served.url.path + "/ml.git"], in: served.url)
    let server = try GitHTTPServer(projectRoot: served.url.path, token: "t0ken")
    let (config, api) = try repo.localAgentConfig()
    try repo.edit("agent.yaml") {
      $0.replacingOccurrences(
        of: "source: {url: \(repo.path), branch: main, path: manifests, interval: 1s}",
        with: "source: {url: http://127.0.0.1:\(server.port)/ml.git, branch: main, path: manifests, interval: 1s, "
          + "fetchTimeout: 2s, auth: {token: {env: GIT_TOKEN}}}")
    }
    let agent = try RunningAgent(
      config: config, port: api, environment: ["GIT_TOKEN": "t0ken"],
      log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    #expect(agent.waitUntil(60) { ServingTests.predict(listen) == 1 }, "\(log())")

    // The remote stalls; the fetch is said failed within a few seconds.
    try served.write("STALL", "")
    let source = {
      (try? HTTPClient.get("http://127.0.0.1:\(api)/api/v1/source", timeout: 5)).map {
        String(decoding: $0.body, as: UTF8.self)
      } ?? ""
    }
    #expect(agent.waitUntil(20) { source().contains("did not finish within 2s") }, "\(source())\n\(log())")

    // A replica killed meanwhile is replaced: self-heal does not wait for git.
    let before = Set(ExampleRepository.processes(under: repo.state))
    let victim = try #require(before.first)
    kill(victim, SIGKILL)
    #expect(
      agent.waitUntil(30) {
        let now = Set(ExampleRepository.processes(under: repo.state))
        return !now.contains(victim) && agent.healthyReplicas("iris-api", version: 1) == 2
      }, "\(log())")
    #expect(ServingTests.predict(listen) == 1)
    try FileManager.default.removeItem(at: served.url.appendingPathComponent("STALL"))
    #expect(agent.terminate(within: 20) == 0, "\(log())")
    withExtendedLifetime(server) {}
  }
}
