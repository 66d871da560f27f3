import Drivers
import Foundation
import Testing

/// A monitor's firing outlives the agent: a breach that lasts through `kill -9` and a restart is
/// one firing and one retrain, on the built binary with a real drift monitor.
@Suite struct FiringAcrossRestartTests {
  @Test func oneBreachThroughAKillAndARestartFiresAndRetrainsOnce() throws {
    let repo = try ExampleRepository(example: "quickstart")
    // Production pinned to v1: the retrained version does not roll out, so the breach goes on
    // against v1 through the restart.
    try repo.edit("manifests/models/iris.yaml") {
      $0.replacingOccurrences(
        of: "      policy: latest-passing\n      gates:\n        - {metric: accuracy, min: 0.8}\n",
        with: "      version: 1\n")
    }
    try MonitorSourceTests.watchDrift(repo)
    let listen = try repo.listenOnFreePort()
    let (config, api) = try repo.localAgentConfig()
    var agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let first = agent.log
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    var generator = SystemRandomNumberGenerator()
    let typical = {
      ServingTests.predict(listen, features: [MonitorSourceTests.typicalAmount(&generator), 0.5, 0.8, 0])
    }
    #expect(agent.waitUntil(120) { typical() == 1 }, "\(log())")
    let shifted = { for _ in 0..<20 { _ = ServingTests.predict(listen, features: [3.6, 0.5, 0.8, 0]) } }
    #expect(
      agent.waitUntil(60) {
        shifted(); return log().contains("monitor iris-drift fired")
      }, "\(log())")

    // Killed right after the firing, then started again while the breach goes on.
    kill(agent.process.processIdentifier, SIGKILL)
    agent.process.waitUntilExit()
    agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run2.log"))
    let keepUntil = Date().addingTimeInterval(15)
    while Date() < keepUntil { shifted() }

    let events = try run(agentBinary(), ["history", "--state", repo.state, "--format", "json"]).stdout
    let list = (try? JSONSerialization.jsonObject(with: Data(events.utf8)) as? [[String: Any]]) ?? []
    let fired = list.filter {
      $0["kind"] as? String == "monitor-fired" && $0["resource"] as? String == "Monitor/iris-drift"
    }
    #expect(fired.count == 1, "\(fired)")
    let runs = try FileManager.default.contentsOfDirectory(atPath: repo.state + "/runs").filter { !$0.hasPrefix(".") }
    // The first training, and one retrain for the one firing.
    #expect(runs.count == 2, "\(runs)\n\((try? String(contentsOf: first, encoding: .utf8)) ?? "")\n\(log())")
    #expect(!log().contains("monitor iris-drift fired"), "the restarted agent fired it again: \(log())")
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }
}
