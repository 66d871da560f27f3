import Drivers
import Foundation
import ModelOpsTesting
import Testing

/// `agent apply` with `registry: {type: mlflow}` against a real MLflow server: the quickstart's
/// run is registered in MLflow and its promotion sets the alias MLflow then reads back.
@Suite struct MLflowTests {
  @Test func applyRegistersInMLflowAndPromotesByAlias() throws {
    let server = try MLflowServer()
    let repo = try ExampleRepository(example: "quickstart")
    try repo.listenOnFreePort()
    let (config, _) = try repo.localAgentConfig()
    try repo.scratch.write(
      "agent.yaml",
      try String(contentsOfFile: config, encoding: .utf8) + "\nregistry: {type: mlflow, url: \(server.url)}\n")
    let apply = try run(agentBinary(), ["apply", "--config", config])
    #expect(apply.status == 0, "\(apply.stderr)")
    let models = try run(agentBinary(), ["models", "iris-classifier", "--wide", "--state", repo.state]).stdout
    #expect(squeezed(models).contains("iris-classifier v1 production"), "\(models)")
    let alias = try server.get("mlflow/registered-models/alias?name=iris-classifier&alias=production")
    let version = try #require(alias["model_version"] as? [String: Any], "\(alias)")
    #expect(version["version"] as? String == "1")
    #expect((version["source"] as? String)?.hasPrefix("mlflow-artifacts:/") == true)

    // MLflow refusing (here: gone) is an error on the resource, and nothing is recorded.
    withExtendedLifetime(server) {}
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "7""#, with: #"seed: "8""#)
    }
    try repo.commit("seed 8")
    try repo.scratch.write(
      "agent.yaml",
      try String(contentsOfFile: config, encoding: .utf8)
        .replacingOccurrences(of: server.url, with: "http://127.0.0.1:\(try FreePort.pick())"))
    let failed = try run(agentBinary(), ["apply", "--config", config])
    #expect(failed.status == 1)
    #expect(failed.stderr.contains("Couldn't connect to server"), "\(failed.stderr)")
    #expect(
      !(try run(agentBinary(), ["models", "iris-classifier", "--wide", "--state", repo.state]).stdout.contains("v2")))
  }
}
