import Drivers
import Foundation
import ModelOpsTesting
import StateStore
import Testing

@Suite(.serialized) struct MLflowRegistryTests {
  func artifact(_ folder: Folder, _ text: String) throws -> URL {
    let model = URL(fileURLWithPath: folder.path).appendingPathComponent("model-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: model.appendingPathComponent("sub"), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: model.appendingPathComponent("weights.json"))
    try Data([0, 1, 2, 255]).write(to: model.appendingPathComponent("sub/extra bin"))
    return model
  }

  @Test func versionsAreRegisteredWithLineageAndAliasesMovedInMLflow() throws {
    let server = try MLflowServer()
    let state = try Folder()
    let store = try StateStore(folder: state.path)
    let registry = MLflowRegistry(url: server.url, store: store, folder: state.path)
    let first = try registry.register(
      NewVersion(
        model: "fraud", artifact: try artifact(state, #"{"w": 1}"#), metrics: ["auc": 0.91],
        profile: Data(#"{"features": {}}"#.utf8), lineage: ["commit": "c0ffee", "run": "run-1"], createdAt: Date()))
    #expect(first == 1)

    // MLflow's record: source under the run's artifacts, lineage tags, the run's metric, the bytes.
    let version = try #require(
      try server.get("mlflow/model-versions/get?name=fraud&version=1")["model_version"] as? [String: Any])
    let source = try #require(version["source"] as? String)
    #expect(source.hasPrefix("mlflow-artifacts:/") && source.hasSuffix("/artifacts/model"))
    let tags = Dictionary(
      uniqueKeysWithValues: ((version["tags"] as? [[String: String]]) ?? []).compactMap { tag in
        tag["key"].map { ($0, tag["value"] ?? "") }
      })
    #expect(tags["modelops.commit"] == "c0ffee")
    #expect(tags["modelops.artifact_digest"]?.hasPrefix("sha256:") == true)
    let runID = try #require(version["run_id"] as? String)
    let run = try server.get("mlflow/runs/get?run_id=\(runID)")
    let metrics = ((run["run"] as? [String: Any])?["data"] as? [String: Any])?["metrics"] as? [[String: Any]]
    #expect(metrics?.first?["key"] as? String == "auc")
    #expect(metrics?.first?["value"] as? Double == 0.91)
    let path = String(source.dropFirst("mlflow-artifacts:/".count))
    let bytes = try HTTPClient.get(
      server.url + "/api/2.0/mlflow-artifacts/artifacts/\(path)/sub/extra%20bin", timeout: 10)
    #expect(bytes.body == Data([0, 1, 2, 255]))
    // The local copy serves, digest-checked, with the profile.
    #expect(try registry.verify(model: "fraud", version: 1))
    #expect(try registry.profile(model: "fraud", version: 1) == Data(#"{"features": {}}"#.utf8))

    // Aliases: set, moved, deleted in MLflow; history in the agent's state.
    try registry.moveAlias(model: "fraud", alias: "production", to: 1, cause: "commit c0ffee", at: Date())
    let second = try registry.register(
      NewVersion(
        model: "fraud", artifact: try artifact(state, #"{"w": 2}"#), metrics: ["auc": 0.93], profile: nil,
        lineage: ["commit": "beef"], createdAt: Date()))
    #expect(second == 2)
    try registry.moveAlias(model: "fraud", alias: "production", to: 2, cause: "policy", at: Date())
    let alias = try server.get("mlflow/registered-models/alias?name=fraud&alias=production")
    #expect((alias["model_version"] as? [String: Any])?["version"] as? String == "2")
    let history = try store.observe().models["fraud"]?.aliasHistory["production"]?.map(\.version)
    #expect(history == [1, 2])

    // MLflow's errors surface with their code; nothing changes in the state.
    #expect {
      try registry.moveAlias(model: "fraud", alias: "production", to: 9, cause: "test", at: Date())
    } throws: { error in
      "\(error)" == "MLflow RESOURCE_DOES_NOT_EXIST: Model Version (name=fraud, version=9) not found"
    }
    #expect(try store.observe().models["fraud"]?.aliasHistory["production"]?.map(\.version) == [1, 2])

    try registry.moveAlias(model: "fraud", alias: "production", to: nil, cause: "removed from git", at: Date())
    #expect(try server.get("mlflow/registered-models/alias?name=fraud&alias=production")["error_code"] != nil)
    try registry.moveAlias(model: "fraud", alias: "production", to: nil, cause: "again", at: Date())
    withExtendedLifetime(server) {}
  }

  @Test func anUnreachableServerIsAClearErrorAndRegistersNothing() throws {
    let state = try Folder()
    let store = try StateStore(folder: state.path)
    let registry = MLflowRegistry(url: "http://127.0.0.1:\(try FreePort.pick())", store: store, folder: state.path)
    #expect {
      try registry.register(
        NewVersion(
          model: "m", artifact: try artifact(state, "{}"), metrics: [:], profile: nil, lineage: [:], createdAt: Date()))
    } throws: { "\($0)".contains("Couldn't connect to server") }
    #expect(try store.versions(model: "m").isEmpty)
  }
}
