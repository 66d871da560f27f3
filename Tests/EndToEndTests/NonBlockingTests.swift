import Drivers
import Foundation
import Testing

/// Nothing waits: with the built `agent run` and real processes, a training run that lasts as long
/// as the test wants, a canary paused for 10 minutes and a pipeline that always fails hold up
/// nothing else, and a stop or a `kill -9` loses nothing.
@Suite struct NonBlockingTests {
  typealias Repo = TwoTeamsRepository

  /// Starts the agent and waits until b and c serve v1 and the slow run is in its step.
  func start(_ repo: Repo, log name: String = "run.log") throws -> (RunningAgent, () -> String) {
    let (config, api) = try repo.config()
    let agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent(name))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    return (agent, log)
  }

  /// The run id and process id the slow step wrote when it started.
  func slowRun(_ repo: Repo) -> (run: String, pid: Int32)? {
    guard let text = try? String(contentsOfFile: repo.slowStarted, encoding: .utf8) else { return nil }
    let parts = text.split(separator: " ")
    guard parts.count == 2, let pid = Int32(parts[1]) else { return nil }
    return (String(parts[0]), pid)
  }

  /// A process that ended counts as gone even while a zombie (PID 1 here may not reap orphans).
  func alive(_ pid: Int32) -> Bool { ProcessRuntime.startTime(of: pid) != nil }

  func answers(_ port: Int, _ count: Int) -> Set<String> { Set((0..<count).compactMap { _ in Repo.answer(port) }) }

  /// The status message the API gives a resource (`Kind/name`).
  func status(_ agent: RunningAgent, _ resource: String) -> String {
    guard let body = agent.get("/api/v1/status")?.body,
      let rows = try? JSONSerialization.jsonObject(with: body) as? [[String: Any]],
      let row = rows.first(where: { "\($0["kind"] ?? "")/\($0["name"] ?? "")" == resource })
    else { return "" }
    return row["message"] as? String ?? ""
  }

  /// The deployment serves its first revision on every replica, with nothing left to do.
  func created(_ agent: RunningAgent, _ name: String) -> Bool {
    let message = status(agent, "Deployment/\(name)")
    return message.hasPrefix("serving v1/") && message.contains("2/2 replicas healthy")
  }

  func history(_ repo: Repo, _ name: String) -> String {
    (try? run(agentBinary(), ["history", name, "--state", repo.state]).stdout) ?? ""
  }

  /// When each run of the `broken` pipeline failed, oldest first.
  func failedRuns(_ repo: Repo) -> [Date] {
    let format = ISO8601DateFormatter()
    return history(repo, "broken").split(separator: "\n").filter { $0.contains("train-failed") }
      .compactMap { line in line.split(separator: " ").first.flatMap { format.date(from: String($0)) } }.sorted()
  }

  func alert(_ agent: RunningAgent, _ alertname: String, deployment: String) throws -> Int {
    let payload = """
      {"version": "4", "status": "firing", "receiver": "modelops",
       "alerts": [{"status": "firing", "labels": {"alertname": "\(alertname)", "deployment": "\(deployment)"},
                   "annotations": {"summary": "\(deployment) answers errors"}}]}
      """
    return try HTTPClient.request(
      "POST", "http://127.0.0.1:\(agent.port)/hooks/alertmanager", body: Data(payload.utf8), timeout: 5
    ).status
  }

  @Test func commitsAlertsAndPromotionsGoOnWhileAPipelineTrainsAndACanaryIsHeld() throws {
    let repo = try Repo()
    let (agent, log) = try start(repo)
    #expect(
      agent.waitUntil(120) { Repo.answer(repo.listenB) == "1 one" && Repo.answer(repo.listenC) == "1 one" }, "\(log())")
    #expect(agent.waitUntil(30) { slowRun(repo) != nil }, "\(log())")
    let slow = try #require(slowRun(repo))

    // c's canary: 50 % of the traffic on the new template, held for 10 minutes.
    // c is created (both replicas healthy): a change now is a canary, not a new first rollout.
    #expect(agent.waitUntil(60) { created(agent, "c") }, "\(status(agent, "Deployment/c"))")
    try repo.flavor("c", "two")
    #expect(agent.waitUntil(60) { answers(repo.listenC, 20) == ["1 one", "1 two"] }, "\(log())")
    #expect(
      agent.waitUntil(10) { status(agent, "Deployment/c").contains(", paused") }, "\(status(agent, "Deployment/c"))")

    // A commit to b is served while slow trains (its gate stays shut) and c is held.
    try repo.flavor("b", "two")
    let committed = Date()
    #expect(agent.waitUntil(30) { Repo.answer(repo.listenB) == "1 two" }, "\(log())")
    print("NonBlockingTests: b served its commit after \(Date().timeIntervalSince(committed)) s")

    // An alert for b rolls it back, still while slow trains and c is held.
    #expect(try alert(agent, "BErrors", deployment: "b") == 200)
    #expect(agent.waitUntil(30) { Repo.answer(repo.listenB) == "1 one" }, "\(log())")
    #expect(answers(repo.listenC, 20) == ["1 one", "1 two"])
    #expect(alive(slow.pid), "the slow step still runs")

    // The pipeline that always fails is retried with backoff, not every cycle, and says so.
    #expect(agent.waitUntil(20) { status(agent, "Pipeline/broken").contains("retrying at") }, "\(log())")
    // Backoff from 5 s, doubling: the second wait is about twice the first.
    #expect(agent.waitUntil(60) { failedRuns(repo).count >= 3 }, "\(history(repo, "broken"))")
    let failed = failedRuns(repo)
    if failed.count >= 3 {
      let first = failed[1].timeIntervalSince(failed[0])
      let second = failed[2].timeIntervalSince(failed[1])
      #expect(first >= 4 && second >= first + 3, "waits of \(first) s then \(second) s: \(history(repo, "broken"))")
    }

    // `agent retry` ends the backoff now.
    let retry = try run(agentBinary(), ["retry", "broken", "--state", repo.state])
    #expect(retry.stdout.contains("Pipeline/broken is no longer retrying"), "\(retry.stdout)\(retry.stderr)")

    // `promote` ends c's pause now: the canary finishes.
    let promote = try HTTPClient.request(
      "POST", "http://127.0.0.1:\(agent.port)/api/v1/deployments/c/promote", body: Data(), timeout: 5)
    #expect(promote.status < 300, "\(String(decoding: promote.body, as: UTF8.self))")
    #expect(agent.waitUntil(30) { answers(repo.listenC, 20) == ["1 two"] }, "\(log())")

    // SIGTERM while the step runs: the agent stops within 10 s, the step with it, and the run is
    // recorded as interrupted.
    let stopping = Date()
    #expect(agent.terminate(within: 10) == 0, "\(log())")
    print("NonBlockingTests: stopped \(Date().timeIntervalSince(stopping)) s after SIGTERM")
    #expect(agent.waitUntil(3) { !alive(slow.pid) }, "step process \(slow.pid) outlived the agent")
    #expect(history(repo, "slow").contains("train-interrupted"), "\(history(repo, "slow"))")
  }

  @Test func aKilledAgentAdoptsTheRunningRunAndKeepsTheCanarysPause() throws {
    let repo = try Repo()
    var (agent, log) = try start(repo)
    #expect(agent.waitUntil(120) { Repo.answer(repo.listenC) == "1 one" }, "\(log())")
    #expect(agent.waitUntil(30) { slowRun(repo) != nil }, "\(log())")
    let slow = try #require(slowRun(repo))
    // c is created (both replicas healthy): a change now is a canary, not a new first rollout.
    #expect(agent.waitUntil(60) { created(agent, "c") }, "\(status(agent, "Deployment/c"))")
    try repo.flavor("c", "two")
    #expect(agent.waitUntil(60) { status(agent, "Deployment/c").contains(", paused") }, "\(log())")
    let paused = status(agent, "Deployment/c")
    let until = try #require(paused.range(of: #"waiting until \d\d:\d\d:\d\d"#, options: .regularExpression))

    kill(agent.process.processIdentifier, SIGKILL)
    agent.process.waitUntilExit()
    sleep(2)
    (agent, log) = try start(repo, log: "run2.log")
    // The canary resumes where it was: same split, same end of pause.
    #expect(
      agent.waitUntil(30) { status(agent, "Deployment/c").contains(paused[until]) },
      "before: \(paused)\nafter: \(status(agent, "Deployment/c"))\n\(log())")
    #expect(answers(repo.listenC, 20) == ["1 one", "1 two"])
    // The slow run was adopted, not started again: same process, no second run.
    #expect(alive(slow.pid))
    #expect(slowRun(repo)?.run == slow.run)
    try Data().write(to: URL(fileURLWithPath: repo.gate))
    let models = { (try? run(agentBinary(), ["models", "slow", "--wide", "--state", repo.state]).stdout) ?? "" }
    #expect(agent.waitUntil(60) { squeezed(models()).contains("slow v1 ") }, "\(log())")
    #expect(!squeezed(models()).contains("slow v2 "), "\(models())")
    #expect(history(repo, "slow").components(separatedBy: "registered v").count - 1 == 1, "\(history(repo, "slow"))")
    #expect(history(repo, "slow").contains(slow.run))
    #expect(agent.terminate(within: 10) == 0, "\(log())")
  }
}
