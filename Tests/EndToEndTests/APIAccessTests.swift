import Drivers
import Foundation
import Testing

/// Who may use the agent's API, on the built binary: without a token only this host's processes
/// (an API reachable from other hosts needs one, or the agent does not start), with a warning;
/// a bearer token is accepted whatever the scheme's case.
@Suite struct APIAccessTests {
  @Test func anOpenAPIIsLoopbackOnlyAndSaidAtStart() throws {
    let repo = try ExampleRepository(example: "quickstart")
    _ = try repo.listenOnFreePort()
    let (config, api) = try repo.localAgentConfig()
    try repo.edit("agent.yaml") {
      $0.replacingOccurrences(of: "listen: 127.0.0.1:\(api)", with: "listen: 0.0.0.0:\(api)")
    }
    let refused = try run(agentBinary(), ["run", "--config", config], timeout: 30)
    #expect(refused.status == 1)
    #expect(refused.stderr.contains("is reachable from other hosts, and api.token is not set"), "\(refused.stderr)")

    try repo.edit("agent.yaml") {
      $0.replacingOccurrences(of: "listen: 0.0.0.0:\(api)", with: "listen: 127.0.0.1:\(api)")
    }
    let agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    #expect(agent.waitUntil(30) { log().contains("the API has no token") }, "\(log())")
    // Stopped once it serves (a SIGTERM before its services run ends it by the signal).
    #expect(agent.waitUntil(30) { agent.get("/healthz")?.status == 200 }, "\(log())")
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }

  @Test func theBearerSchemeIsCaseInsensitive() throws {
    let repo = try ExampleRepository(example: "quickstart")
    _ = try repo.listenOnFreePort()
    let (config, api) = try repo.localAgentConfig(token: "{env: MODELOPS_TEST_TOKEN}")
    let agent = try RunningAgent(
      config: config, port: api, environment: ["MODELOPS_TEST_TOKEN": "t0ken"],
      log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    func status(_ authorization: String) -> Int {
      (try? HTTPClient.request(
        "GET", "http://127.0.0.1:\(api)/api/v1/models", headers: ["Authorization": authorization], timeout: 5))?.status
        ?? 0
    }
    #expect(agent.waitUntil(30) { status("Bearer t0ken") == 200 }, "\(log())")
    #expect(status("bearer t0ken") == 200)
    #expect(status("BEARER  t0ken") == 200)
    #expect(status("Bearer wrong") == 401)
    #expect(status("Basic dDBrZW4=") == 401)
    #expect(!log().contains("the API has no token"))
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }
}
