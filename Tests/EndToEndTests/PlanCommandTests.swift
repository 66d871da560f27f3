import Foundation
import Testing

@Suite struct PlanCommandTests {
  @Test func aFirstPlanTrainsAndExitsTwoWithDetailedExitCodes() throws {
    let repo = try ExampleRepository(example: "canary-analysis")
    let result = try agent("plan", "--repo", repo.path, "--path", "manifests", "--detailed-exitcode")
    #expect(result.status == 2, "\(result.stderr)")
    #expect(result.stdout.contains("  > Pipeline fraud-train: train\n      no successful run yet\n"))
    #expect(result.stdout.hasSuffix("Plan: 1 to train, 1 to promote, 0 to roll out, 0 to delete, 2 held.\n"))
  }

  @Test func aPullRequestShowsFieldChangesAndTheirConsequences() throws {
    let repo = try ExampleRepository(example: "canary-analysis")
    try repo.git("checkout", "-q", "-b", "tune")
    try repo.edit("manifests/pipelines/fraud-train.yaml") {
      $0.replacingOccurrences(of: #"C: "1.0""#, with: #"C: "0.5""#)
    }
    try repo.edit("manifests/deploy/fraud-api.yaml") { $0.replacingOccurrences(of: "replicas: 2", with: "replicas: 3") }
    try repo.commit("tune C, three replicas")
    let result = try agent(
      "plan", "--repo", repo.path, "--path", "manifests", "--base", "main", "--head", "tune", "--format", "json")
    #expect(result.status == 0, "\(result.stderr)")
    let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    let changes = report["changes"] as? [[String: Any]] ?? []
    let fields = changes.flatMap { ($0["fields"] as? [[String: Any]]) ?? [] }.compactMap { $0["path"] as? String }
    #expect(fields.sorted() == ["spec.params.C", "spec.replicas"])
    let actions = (report["actions"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    #expect(
      actions == [
        "train/Pipeline/fraud-train", "register/Model/fraud-detector/v4", "promote/Model/fraud-detector/staging",
        "scale/Deployment/fraud-api",
      ])
    let summary = report["summary"] as? [String: Any]
    #expect(summary?["changes"] as? Bool == true)
  }

  @Test func aPullRequestWithTheAgentsStateShowsRealVersionsAndWhatChanged() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let args = ["--repo", repo.path, "--path", "manifests"]
    #expect(try run(agentBinary(), ["apply"] + args + ["--state", repo.state]).status == 0)
    try repo.git("checkout", "-q", "-b", "tune")
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"learning_rate: "0.1""#, with: #"learning_rate: "0.05""#)
    }
    try repo.commit("slower learning")
    let pr = args + ["--base", "main", "--head", "tune", "--format", "markdown"]
    let real = try run(agentBinary(), ["plan"] + pr + ["--state", repo.state]).stdout
    // The change where a reviewer sees it, the registry's next number, no revision digests.
    #expect(real.contains("- Pipeline `iris-train`: `spec.params.learning_rate`: `0.1` → `0.05`"), "\(real)")
    #expect(real.contains("| register v1 → v2 |"), "\(real)")
    #expect(real.contains("| rollout v1 → v2 |"), "\(real)")
    #expect(real.contains("planned against the agent's state"))
    let assumed = try run(agentBinary(), ["plan"] + pr).stdout
    #expect(assumed.contains("| register v0 → v1 |") && assumed.contains("give --state"), "\(assumed)")
  }

  @Test func aVersionAGateHoldsBackIsSaidWithWhy() throws {
    let repo = try ExampleRepository(example: "quickstart")
    try repo.edit("manifests/models/iris.yaml") { $0.replacingOccurrences(of: "min: 0.8}", with: "min: 0.999}") }
    try repo.commit("an accuracy no version reaches")
    let args = ["--repo", repo.path, "--path", "manifests", "--state", repo.state]
    _ = try run(agentBinary(), ["apply"] + args)
    let plan = try run(agentBinary(), ["plan"] + args).stdout
    #expect(
      plan.contains("Note: Model iris-classifier: v1 accuracy 0.")
        && plan.contains("is below the gate's min 0.999, so it does not take 'production'"), "\(plan)")
    let status = try run(agentBinary(), ["status", "--wide"] + args).stdout
    #expect(status.contains("is below the gate's min 0.999 (not production)"), "\(status)")
  }

  @Test func aPullRequestThatChangesNothingExitsZero() throws {
    let repo = try ExampleRepository(example: "canary-analysis")
    try repo.git("checkout", "-q", "-b", "docs")
    try repo.scratch.write("README.md", "# docs only\n")
    try repo.commit("docs")
    let result = try agent(
      "plan", "--repo", repo.path, "--path", "manifests", "--base", "main", "--head", "docs", "--detailed-exitcode")
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.contains("(no manifest changed)"))
    #expect(
      result.stdout.hasSuffix(
        "No changes. What runs matches commit \(String(try repo.git("rev-parse", "HEAD").stdout.prefix(12))).\n"))
  }

  @Test func markdownStartsWithTheMarkerForOneUpdatableComment() throws {
    let repo = try ExampleRepository(example: "canary-analysis")
    let result = try agent("plan", "--repo", repo.path, "--path", "manifests", "--format", "markdown")
    #expect(result.status == 0)
    #expect(result.stdout.hasPrefix("<!-- modelops-plan -->\n### ModelOps plan for `"))
    #expect(result.stdout.contains("<details><summary>Full plan</summary>"))
  }

  @Test func invalidManifestsAtTheHeadAreAnErrorNamingEachProblem() throws {
    let repo = try ExampleRepository(example: "canary-analysis")
    try repo.edit("manifests/deploy/fraud-api.yaml") { $0.replacingOccurrences(of: "replicas: 2", with: "replica: 2") }
    try repo.commit("typo")
    let result = try agent("plan", "--repo", repo.path, "--path", "manifests", "--detailed-exitcode")
    #expect(result.status == 1)
    #expect(result.stderr.contains("are invalid; nothing would be applied"))
    #expect(
      result.stderr.contains(
        "manifests/deploy/fraud-api.yaml:12:3: error: unknown field 'replica' (did you mean 'replicas'?)"))
    #expect(result.stdout == "")
  }

  @Test func theWorkTreeIsNeverRead() throws {
    let repo = try ExampleRepository(example: "canary-analysis")
    try repo.edit("manifests/deploy/fraud-api.yaml") { _ in "not: valid: yaml: [" }
    let result = try agent("plan", "--repo", repo.path, "--path", "manifests")
    #expect(result.status == 0, "\(result.stderr)")
  }

  @Test func aBadRefIsAClearError() throws {
    let repo = try ExampleRepository(example: "canary-analysis")
    let result = try agent("plan", "--repo", repo.path, "--path", "manifests", "--ref", "nope")
    #expect(result.status == 1)
    #expect(result.stderr.contains("no branch, tag or commit named 'nope'"))
  }

  @Test func theConfiguredSourceIsMirroredIntoTheStateFolder() throws {
    let repo = try ExampleRepository(example: "canary-analysis")
    let config = try Scratch()
    try config.write(
      "agent.yaml",
      """
      source:
        url: file://\(repo.path)
        branch: main
        path: manifests
      state: \(config.url.path)/state
      """)
    let result = try agent("plan", "--config", config.url.path + "/agent.yaml", "--state", "/nonexistent")
    #expect(result.status == 1)
    #expect(result.stderr.contains("no agent state in /nonexistent"))
    let git = try FileManager.default.contentsOfDirectory(atPath: config.url.path + "/state/git")
    #expect(git.count == 1 && git[0].hasSuffix(".git"))
  }

  @Test func aConfigurationWithAnInlineSecretIsRefused() throws {
    let config = try Scratch()
    try config.write("agent.yaml", "source:\n  url: https://example.com/x.git\n  auth: {token: ghp_inline}\n")
    let result = try agent("plan", "--config", config.url.path + "/agent.yaml")
    #expect(result.status == 1)
    #expect(result.stderr.contains("agent.yaml:3:17: error: 'source.auth.token' must be {env: NAME} or {file: PATH}"))
    #expect(!result.stderr.contains("ghp_inline"))
  }
}
