import Foundation
import ModelOpsCore
import StateStore
import Testing

/// A state folder that removes itself.
final class StateFolder {
  let path = FileManager.default.temporaryDirectory.appendingPathComponent("modelops-state-\(UUID().uuidString)").path
  deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite struct StateStoreTests {
  let t0 = Date(timeIntervalSince1970: 1_800_000_000)

  @Test func aNewStoreIsMigratedAndUsesWAL() throws {
    let folder = StateFolder()
    let store = try StateStore(folder: folder.path)
    #expect(try store.journalMode() == "wal")
    #expect(try store.observe() == ObservedState())
    // Opening again re-runs no migration and loses nothing.
    try store.appendEvent(
      kind: "test", resource: ResourceID(.model, "m"), commit: nil, cause: "test", message: "x", at: t0)
    #expect(try StateStore(folder: folder.path).eventCount() == 1)
  }

  @Test func aSecondAgentOnTheSameFolderIsRefusedWithTheHoldersPid() throws {
    let folder = StateFolder()
    do {
      let first = try StateLock(folder: folder.path)
      #expect {
        try StateLock(folder: folder.path)
      } throws: { error in
        "\(error)".contains("another agent (pid \(getpid())) is using the state folder \(folder.path)")
      }
      withExtendedLifetime(first) {}
    }
    // Released with its holder: the next agent gets it.
    #expect(throws: Never.self) { _ = try StateLock(folder: folder.path) }
  }

  @Test func theRegistryAliasesRunsAndDeploymentsAreObservedAsRecorded() throws {
    let folder = StateFolder()
    let store = try StateStore(folder: folder.path)
    let v1 = try store.registerVersion(
      model: "fraud", artifactDigest: "sha256:aa", metrics: ["auc": 0.91], lineage: ["run": "r1"], at: t0)
    let v2 = try store.registerVersion(
      model: "fraud", artifactDigest: "sha256:bb", metrics: ["auc": 0.95], lineage: [:], at: t0)
    #expect((v1, v2) == (1, 2))
    try store.moveAlias(model: "fraud", alias: "staging", to: 1, cause: "policy latest-passing", at: t0)
    try store.moveAlias(
      model: "fraud", alias: "staging", to: 2, cause: "policy latest-passing", at: t0.addingTimeInterval(60))
    try store.rejectVersion(model: "fraud", version: 2, reason: "analysis failed")
    try store.recordRun(
      id: "r1", pipeline: "fraud-train", status: "succeeded", commit: "abc", specDigest: "d1",
      inputDigests: ["labels": "m1"], startedAt: t0, finishedAt: t0.addingTimeInterval(30))
    try store.recordDeployment("fraud-api", active: Revision(modelVersion: 1, template: "t1"), desiredReplicas: 2)
    try store.recordApplied(
      commit: "abc", resources: [ResourceID(.model, "fraud"), ResourceID(.deployment, "fraud-api")], at: t0)

    let observed = try store.observe()
    let model = try #require(observed.models["fraud"])
    #expect(model.versions.map(\.version) == [1, 2])
    #expect(model.version(2)?.rejected == true)
    #expect(model.version(1)?.metrics == ["auc": 0.91])
    #expect(model.current("staging") == 2)
    #expect(model.aliasHistory["staging"]?.first?.until == t0.addingTimeInterval(60))
    #expect(observed.pipelines["fraud-train"]?.lastSuccess?.inputDigests == ["labels": "m1"])
    #expect(observed.deployments["fraud-api"]?.active == Revision(modelVersion: 1, template: "t1"))
    #expect(observed.appliedCommit == "abc")
    #expect(observed.appliedResources == [ResourceID(.model, "fraud"), ResourceID(.deployment, "fraud-api")])
  }

  @Test func aDeploymentRemovedFromGitIsPlannedForDeletionFromTheStore() throws {
    let folder = StateFolder()
    let store = try StateStore(folder: folder.path)
    try store.recordApplied(
      commit: "abc", resources: [ResourceID(.model, "m"), ResourceID(.deployment, "old-api")], at: t0)
    let tree = MemoryTree(files: [
      "m.yaml": "apiVersion: modelops/v1\nkind: Model\nmetadata: {name: m}\nspec: {aliases: {p: {version: 1}}}\n",
      "d.yaml": """
      apiVersion: modelops/v1
      kind: Deployment
      metadata: {name: new-api}
      spec: {model: m@1, command: [x], listen: 127.0.0.1:9000}
      """,
    ])
    let result = ManifestLoader.load(from: tree)
    let desired = DesiredState(commit: "def", manifests: result.manifests)
    let plan = Planner.plan(desired: desired, observed: try store.observe(), now: t0)
    #expect(
      plan.actions.map(\.id) == [
        "hold/Model/m/p", "hold/Deployment/new-api", "delete/Deployment/old-api",
      ])
  }
}

@Suite struct RetryTests {
  @Test func aRetriedRevisionIsPlannedAgain() throws {
    let folder = StateFolder()
    let store = try StateStore(folder: folder.path)
    let tree = MemoryTree(files: [
      "all.yaml": """
      apiVersion: modelops/v1
      kind: Model
      metadata: {name: m}
      spec: {aliases: {p: {version: 1}}}
      ---
      apiVersion: modelops/v1
      kind: Deployment
      metadata: {name: api}
      spec: {model: m@1, command: [serve], listen: 127.0.0.1:9000}
      """
    ])
    let desired = DesiredState(commit: "c", manifests: ManifestLoader.load(from: tree).manifests)
    let deployment = try #require(desired.manifests.deployments["api"])
    let bad = Revision(modelVersion: 1, template: DesiredState.templateDigest(of: deployment))
    try store.registerVersion(model: "m", artifactDigest: nil, metrics: [:], lineage: [:], at: Date())
    try store.moveAlias(model: "m", alias: "p", to: 1, cause: "test", at: Date())
    try store.recordDeployment("api", active: Revision(modelVersion: 1, template: "old"), desiredReplicas: 1)
    try store.markFailed(deployment: "api", revision: bad, reason: "analysis failed", at: Date())
    // Held; the revision serving (its replica not recorded here) heals meanwhile.
    #expect(
      Planner.plan(desired: desired, observed: try store.observe(), now: Date()).actions.map(\.verb) == [
        .hold, .replace,
      ])
    #expect(try store.clearFailed(deployment: "api") == 1)
    #expect(
      Planner.plan(desired: desired, observed: try store.observe(), now: Date()).actions.map(\.verb) == [.rollout])
    #expect(try store.clearFailed(deployment: "api") == 0)
  }
}
