import Drivers
import Foundation
import Testing

/// The command line a newcomer reaches for, on the built binary: every inspecting or acting
/// command asks a running agent with `--server`, a command that cannot take the state folder says
/// which command would work, training says what it does, and the install script puts completions
/// and a man page beside the binary.
@Suite struct CLISurfaceTests {
  @Test func everyCommandAsksTheRunningAgentAndTrainingSaysItsSteps() throws {
    let (repo, _, agent, config, server) = try HonestAnswersTests.serving()
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }

    // The run that trained v1, and its output through the API.
    let models = try run(agentBinary(), ["models", "iris-classifier", "--server", server, "--format", "json"])
    let versions = try JSONSerialization.jsonObject(with: Data(models.stdout.utf8)) as? [[String: Any]]
    let runID = try #require((versions?.first?["lineage"] as? [String: String])?["run"], "\(models.stdout)")
    let logs = try run(agentBinary(), ["logs", runID, "--server", server])
    #expect(logs.status == 0 && logs.stdout.contains("==> step train"), "\(logs)")
    let noRun = try run(agentBinary(), ["logs", "nope", "--server", server])
    #expect(noRun.status == 1 && noRun.stderr.contains("answered 404"), "\(noRun)")
    // The agent's log says each step's start and end, not only the run's.
    #expect(log().contains("run \(runID): step 1/2 generate started"), "\(log())")
    #expect(log().contains("run \(runID): step train succeeded"), "\(log())")

    let retry = try run(agentBinary(), ["retry", "iris-api", "--server", server])
    #expect(retry.status == 1 && retry.stderr.contains("has no failed revision"), "\(retry)")

    // The state folder is the running agent's: the refusal names the command that works.
    let taken = try run(agentBinary(), ["rollback", "iris-api", "--config", config])
    #expect(taken.status == 1)
    #expect(
      taken.stderr.contains("ask the running agent instead: agent rollback iris-api --server \(server)"), "\(taken)")

    // A version the gate holds back: `models` says so, and why.
    try repo.edit("manifests/models/iris.yaml") { $0.replacingOccurrences(of: "min: 0.8}", with: "min: 0.999}") }
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "7""#, with: #"seed: "8""#)
    }
    try repo.commit("a gate no version passes")
    let held = { (try? run(agentBinary(), ["models", "iris-classifier", "--wide", "--server", server]).stdout) ?? "" }
    #expect(agent.waitUntil(120) { held().contains("held back from production: accuracy ") }, "\(held())\n\(log())")
    #expect(squeezed(held()).contains("iris-classifier v2 - "), "\(held())")
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }

  @Test func theInstallScriptPutsCompletionsAndAManPageBesideTheBinary() throws {
    let scratch = try Scratch()
    let prefix = scratch.url.appendingPathComponent("usr").path
    let installed = try run(
      URL(fileURLWithPath: "/bin/bash"), [repositoryRoot.appendingPathComponent("scripts/install").path, prefix],
      environment: ["AGENT_BINARY": try agentBinary().path])
    #expect(installed.status == 0, "\(installed.stderr)")
    let version = try run(URL(fileURLWithPath: prefix + "/bin/agent"), ["--version"])
    #expect(version.stdout == "0.1.0\n")
    let read = { (path: String) in (try? String(contentsOfFile: prefix + "/" + path, encoding: .utf8)) ?? "" }
    #expect(read("share/bash-completion/completions/agent").contains("rollback"))
    #expect(read("share/zsh/site-functions/_agent").contains("#compdef agent"))
    #expect(read("share/fish/vendor_completions.d/agent.fish").contains("complete -c 'agent'"))
    let manual = read("share/man/man1/agent.1")
    #expect(manual.hasPrefix(".TH AGENT 1"), "\(manual.prefix(200))")
    // Every command is in it, with its options, from the parser.
    for command in ["validate", "plan", "apply", "status", "models", "logs", "rollback", "promote", "retry", "run"] {
      #expect(manual.contains(".SS agent \(command)"), "\(command) missing from the man page")
    }
    #expect(manual.contains("\\-\\-to\\-version"))
  }
}
