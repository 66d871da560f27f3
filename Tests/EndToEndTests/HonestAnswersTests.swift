import Drivers
import Foundation
import Testing

/// What a newcomer tried on the built binary: requests that cannot succeed are refused at once
/// with the reason and a non-zero exit, and an invalid head commit is shown by `agent status`
/// with its located errors.
@Suite struct HonestAnswersTests {
  /// The quickstart served (v1) by a running agent: the repository, the endpoint's port, the
  /// agent, its configuration and its API's URL.
  static func serving() throws -> (ExampleRepository, Int, RunningAgent, config: String, server: String) {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort()
    let (config, api) = try repo.localAgentConfig()
    let agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let served = agent.waitUntil(120) { ServingTests.predict(listen) == 1 }
    try #require(served, "\((try? String(contentsOf: agent.log, encoding: .utf8)) ?? "")")
    return (repo, listen, agent, config, "http://127.0.0.1:\(api)")
  }

  @Test func impossibleRequestsAreRefusedAtOnceWithTheReason() throws {
    let (repo, _, agent, config, server) = try Self.serving()
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }

    let missing = try run(agentBinary(), ["rollback", "iris-api", "--to-version", "99", "--server", server])
    #expect(missing.status == 1)
    #expect(
      missing.stderr.contains("answered 404") && missing.stderr.contains("has no version 99"), "\(missing.stderr)")
    let nothingBefore = try run(agentBinary(), ["rollback", "iris-api", "--server", server])
    #expect(nothingBefore.status == 1)
    #expect(nothingBefore.stderr.contains("answered 409") && nothingBefore.stderr.contains("no previous revision"))
    let same = try run(agentBinary(), ["rollback", "iris-api", "--to-version", "1", "--server", server])
    #expect(same.status == 1 && same.stderr.contains("already serves v1"), "\(same.stderr)")
    let unknown = try run(agentBinary(), ["rollback", "nope", "--server", server])
    #expect(unknown.status == 1 && unknown.stderr.contains("no deployment named 'nope'"), "\(unknown.stderr)")
    #expect(agent.terminate(within: 20) == 0, "\(log())")

    // `--version` in a subcommand is that command's, not the agent's version.
    let version = try run(agentBinary(), ["models", "iris-classifier", "--version", "1", "--state", repo.state])
    #expect(version.status == 0 && version.stdout.contains("v1") && !version.stdout.contains("0.1.0"), "\(version)")
    let absent = try run(agentBinary(), ["models", "iris-classifier", "--version", "3", "--state", repo.state])
    #expect(absent.status == 1 && absent.stderr.contains("has no version 3"), "\(absent.stderr)")
    let elsewhere = try run(agentBinary(), ["history", "--version", "--state", repo.state])
    #expect(elsewhere.status != 0 && elsewhere.stderr.contains("--version"), "\(elsewhere)")
    #expect(try run(agentBinary(), ["--version"]).stdout == "0.1.0\n")
    // Locally too, a version that does not exist is refused before anything is done.
    let local = try run(agentBinary(), ["rollback", "iris-api", "--to-version", "99", "--config", config])
    #expect(local.status == 1 && local.stderr.contains("has no version 99"), "\(local.stderr)")
  }

  @Test func anInvalidHeadIsShownByStatusWithItsLocatedErrors() throws {
    let (repo, listen, agent, config, server) = try Self.serving()
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    let applied = try repo.git("rev-parse", "HEAD").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    try repo.edit("manifests/deploy/iris-api.yaml") {
      $0.replacingOccurrences(of: "replicas: 2", with: "replicas: two")
    }
    try repo.commit("a typo")
    let head = try repo.git("rev-parse", "HEAD").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    let status = { (try? run(agentBinary(), ["status", "--server", server]).stdout) ?? "" }
    #expect(agent.waitUntil(30) { status().contains("Head \(head.prefix(12)) has invalid manifests") }, "\(status())")
    let shown = status()
    #expect(shown.contains("the agent reconciles \(applied.prefix(12)), the last valid commit"), "\(shown)")
    #expect(shown.contains("manifests/deploy/iris-api.yaml:"), "\(shown)")
    #expect(shown.contains("'spec.replicas' must be an integer"), "\(shown)")
    // The log names the first error, not only the commit.
    #expect(log().contains("'spec.replicas' must be an integer"), "\(log())")
    #expect(ServingTests.predict(listen) == 1)
    #expect(agent.terminate(within: 20) == 0, "\(log())")
    // Without an agent, status reads the same from git and the state folder.
    let local = try run(agentBinary(), ["status", "--config", config])
    #expect(local.status == 0, "\(local.stderr)")
    #expect(local.stdout.contains("Head \(head.prefix(12)) has invalid manifests"), "\(local.stdout)")
    #expect(local.stdout.contains("Deployment  iris-api"), "\(local.stdout)")
  }
}
