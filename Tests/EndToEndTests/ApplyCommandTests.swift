import Foundation
import Testing

@Suite struct ApplyCommandTests {
  @Test func theQuickstartTrainsRegistersAndPromotesAndASecondApplyDoesNothing() throws {
    let q = try ExampleRepository(example: "quickstart")
    let first = try run(agentBinary(), ["apply", "--repo", q.path, "--path", "manifests", "--state", q.state])
    #expect(first.status == 0, "\(first.stderr)")
    #expect(first.stderr.contains("✓ Pipeline/iris-train train: run iris-train-"))
    #expect(first.stderr.contains("✓ Model/iris-classifier promote production=v1"))
    #expect(first.stdout.contains("3 done, 0 failed."))
    #expect(first.stderr.contains("✓ Deployment/iris-api create v1 × 2: v1/"))

    let models = try run(agentBinary(), ["models", "--state", q.state, "--format", "json"])
    let versions = try #require(try JSONSerialization.jsonObject(with: Data(models.stdout.utf8)) as? [[String: Any]])
    #expect(versions.count == 1)
    #expect(versions.first?["aliases"] as? [String] == ["production"])
    let accuracy = (versions.first?["metrics"] as? [String: Double])?["accuracy"] ?? 0
    #expect(accuracy >= 0.8)
    let runID = try #require((versions.first?["lineage"] as? [String: String])?["run"])
    // Params and input digests are objects of their own, with their values (not JSON in a string).
    #expect(versions.first?["params"] as? [String: String] == ["learning_rate": "0.1", "epochs": "200", "seed": "7"])
    #expect((versions.first?["lineage"] as? [String: String])?["params"] == nil)
    // The table: a row per version, its aliases and a column per metric.
    let table = try run(agentBinary(), ["models", "--state", q.state])
    let lines = table.stdout.split(separator: "\n").map { squeezed(String($0)) }
    #expect(
      lines.first?.hasPrefix("MODEL VERSION ALIASES ACCURACY LOG_LOSS REGISTERED RUN NOTE") == true, "\(table.stdout)"
    )
    #expect(lines.dropFirst().first?.hasPrefix("iris-classifier v1 production 0.") == true, "\(table.stdout)")
    let whole = try run(agentBinary(), ["models", "iris-classifier", "--version", "1", "--state", q.state])
    #expect(whole.stdout.contains("  params: epochs=200 learning_rate=0.1 seed=7"), "\(whole.stdout)")
    #expect(whole.stdout.contains("  run: \(runID)"))

    let logs = try run(agentBinary(), ["logs", runID, "--state", q.state])
    #expect(logs.stdout.contains("==> step generate (attempt 1 of 2)"))
    #expect(logs.stdout.contains("metrics: {\"accuracy\""))

    let second = try run(agentBinary(), ["apply", "--repo", q.path, "--path", "manifests", "--state", q.state])
    #expect(second.status == 0)
    #expect(second.stdout.hasPrefix("Applied commit"))
    #expect(second.stdout.contains(": 0 done, 0 failed"))

    let history = try run(agentBinary(), ["history", "iris-classifier", "--state", q.state])
    #expect(history.stdout.contains("promote  Model/iris-classifier  production → v1"))
    #expect(history.stdout.contains("because commit "))
  }

  @Test func aParamChangeInANewCommitRetrainsAndPromotesTheNewVersion() throws {
    let q = try ExampleRepository(example: "quickstart")
    #expect(try run(agentBinary(), ["apply", "--repo", q.path, "--path", "manifests", "--state", q.state]).status == 0)
    let file = q.scratch.url.appendingPathComponent("manifests/pipelines/iris-train.yaml")
    let text = try String(contentsOf: file, encoding: .utf8).replacingOccurrences(
      of: #"seed: "7""#, with: #"seed: "8""#)
    try text.write(to: file, atomically: true, encoding: .utf8)
    try q.commit("new seed")
    let plan = try run(agentBinary(), ["plan", "--repo", q.path, "--path", "manifests", "--state", q.state])
    #expect(plan.stdout.contains("spec, params or workdir changed since the last run"))
    let apply = try run(agentBinary(), ["apply", "--repo", q.path, "--path", "manifests", "--state", q.state])
    #expect(apply.status == 0, "\(apply.stderr)")
    #expect(apply.stderr.contains("promote production=v1 → production=v2"))
  }

  @Test func aSecondAgentOnTheSameStateFolderIsRefusedNamingTheFirst() throws {
    let q = try ExampleRepository(example: "quickstart")
    try q.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(
        of: "    - name: generate\n", with: "    - name: wait\n      run: sleep 4\n    - name: generate\n")
    }
    try q.commit("slow first step")
    let first = Process()
    first.executableURL = try agentBinary()
    first.arguments = ["apply", "--repo", q.path, "--path", "manifests", "--state", q.state]
    first.standardOutput = FileHandle.nullDevice
    first.standardError = FileHandle.nullDevice
    try first.run()
    // The repository (and the replicas it kills when released) outlives the first agent.
    defer { withExtendedLifetime(q) { first.waitUntilExit() } }
    // The first agent holds the lock once its state folder has a lock file with its pid in it.
    let lockFile = q.state + "/agent.lock"
    for _ in 0..<300 {
      if (try? String(contentsOfFile: lockFile, encoding: .utf8))?.contains("\(first.processIdentifier)") == true {
        break
      }
      usleep(10_000)
    }
    let second = try run(agentBinary(), ["apply", "--repo", q.path, "--path", "manifests", "--state", q.state])
    #expect(second.status == 1)
    #expect(second.stderr.contains("another agent (pid \(first.processIdentifier)) is using the state folder"))
  }

  @Test func statusSaysWhatIsSyncedHealthyAndWhy() throws {
    let q = try ExampleRepository(example: "quickstart")
    let args = ["--repo", q.path, "--path", "manifests", "--state", q.state]
    #expect(try run(agentBinary(), ["apply"] + args).status == 0)
    let status = try run(agentBinary(), ["status"] + args)
    #expect(status.status == 0, "\(status.stderr)")
    let lines = status.stdout.split(separator: "\n").map {
      $0.split(separator: " ", omittingEmptySubsequences: true).prefix(5).joined(separator: " ")
    }
    #expect(lines.contains("KIND NAME SYNC HEALTH VERSION"), "\(status.stdout)")
    #expect(lines.contains("Model iris-classifier synced healthy v1"), "\(status.stdout)")
    #expect(lines.contains("Pipeline iris-train synced healthy -"))
    #expect(lines.contains("Deployment iris-api synced healthy v1"))
    #expect(status.stdout.split(separator: "\n").allSatisfy { $0.count <= 120 }, "\(status.stdout)")
    #expect(status.stdout.contains("2/2 replicas healthy"))
    #expect(status.stdout.contains("production=v1"))
    let retry = try run(agentBinary(), ["retry", "iris-api", "--state", q.state])
    #expect(retry.status == 1)
    #expect(retry.stderr.contains("'iris-api' has no failed revision, and no stalled or retrying"), "\(retry.stderr)")
  }
}
