import Foundation
import Testing

/// A training step outlives a killed agent; the next agent adopts its run instead of starting a
/// second one, on the built binary.
@Suite struct OrphanedRunTests {
  @Test func aStepRunningThroughAKillIsAdoptedNotDuplicated() throws {
    let repo = try ExampleRepository(example: "quickstart")
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(
        of: #"command: ["python3", "generate.py"]"#,
        with: #"command: ["sh", "-c", "sleep 6; exec python3 generate.py"]"#)
    }
    let listen = try repo.listenOnFreePort()
    let (config, api) = try repo.localAgentConfig()
    var agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let runs = {
      ((try? FileManager.default.contentsOfDirectory(atPath: repo.state + "/runs")) ?? []).filter { !$0.hasPrefix(".") }
    }
    let steps = {
      ExampleRepository.processes(under: repo.state).filter { pid in
        // The step itself (not the wrapper that records its exit status).
        ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").hasPrefix(
          "sh\u{0}-c\u{0}sleep 6")
      }
    }
    #expect(agent.waitUntil(30) { !steps().isEmpty }, "the step did not start")
    kill(agent.process.processIdentifier, SIGKILL)
    agent.process.waitUntilExit()
    let described = {
      steps().map { pid in
        "\(pid): "
          + ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "")
          .replacingOccurrences(of: "\u{0}", with: " ")
      }
    }
    #expect(steps().count == 1, "the step goes on without the agent: \(described())")

    agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run2.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    var most = 0
    #expect(
      agent.waitUntil(120) {
        most = max(most, steps().count)
        return ServingTests.predict(listen) == 1
      }, "\(log())")
    #expect(most <= 1, "two runs of the pipeline at once")
    #expect(runs().count == 1, "\(runs())")
    let runLog =
      (try? String(contentsOfFile: repo.state + "/runs/\(runs().first ?? "")/run.log", encoding: .utf8)) ?? ""
    #expect(runLog.components(separatedBy: "==> step generate").count == 2, "the step ran once: \(runLog)")
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }
}
