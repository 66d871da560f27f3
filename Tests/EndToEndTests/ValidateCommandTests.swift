import Foundation
import Testing

@Suite struct ValidateCommandTests {
  static let examples = ["quickstart", "canary-analysis", "pinned-production"]

  @Test(arguments: examples)
  func everyBundledExampleIsValid(example: String) throws {
    let outcome = try agent("validate", "examples/\(example)/manifests")
    #expect(outcome.status == 0, "\(outcome.stderr)")
    #expect(outcome.stdout.hasPrefix("Valid: "))
    #expect(outcome.stderr == "")
  }

  @Test func theQuickstartSummaryCountsEachKind() throws {
    let outcome = try agent("validate", "examples/quickstart/manifests")
    #expect(outcome.stdout == "Valid: 4 resources in 4 files (1 Model, 1 Pipeline, 1 Deployment, 1 Monitor).\n")
  }

  @Test func invalidManifestsExitOneWithEveryErrorOnStderrCompilerStyle() throws {
    let scratch = try Scratch()
    try scratch.write(
      "deploy/api.yaml",
      """
      apiVersion: modelops/v1
      kind: Deployment
      metadata: {name: api}
      spec:
        model: missing@production
        command: [python3, serve.py]
        replica: 2
        listen: 127.0.0.1:9000

      """)
    try scratch.write(
      "models/m.yaml", "apiVersion: modelops/v1\nkind: Model\nmetadata: {name: m}\nspec: {aliases: {}, retain: 0}\n")
    let result = try agent("validate", scratch.url.path)
    #expect(result.status == 1)
    #expect(result.stdout == "")
    let lines = result.stderr.split(separator: "\n").map(String.init)
    #expect(
      lines == [
        "\(scratch.url.path)/deploy/api.yaml:5:10: error: 'spec.model' refers to Model 'missing', which is not declared",
        "\(scratch.url.path)/deploy/api.yaml:7:3: error: unknown field 'replica' (did you mean 'replicas'?)",
        "\(scratch.url.path)/models/m.yaml:4:29: error: 'spec.retain' must be at least 1, got 0",
        "3 errors in 2 files; nothing is valid until all are fixed.",
      ])
  }

  @Test func jsonOutputListsErrorsWithTheirLocations() throws {
    let result = try agent("validate", "Tests/Fixtures/invalid/unknown-field.yaml", "--format", "json")
    #expect(result.status == 1)
    let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    #expect(report?["valid"] as? Bool == false)
    let errors = report?["errors"] as? [[String: Any]] ?? []
    #expect(errors.count == 1)
    #expect(errors.first?["file"] as? String == "Tests/Fixtures/invalid/unknown-field.yaml")
    #expect(errors.first?["line"] as? Int == 6)
    #expect(errors.first?["column"] as? Int == 3)
    #expect(errors.first?["message"] as? String == "unknown field 'retian' (did you mean 'retain'?)")
  }

  @Test func jsonOutputOfAValidTreeCountsResources() throws {
    let result = try agent("validate", "examples/canary-analysis/manifests", "--format", "json")
    #expect(result.status == 0)
    let report = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    #expect(report?["valid"] as? Bool == true)
    #expect(report?["resources"] as? [String: Int] == ["Model": 1, "Pipeline": 1, "Deployment": 1, "Monitor": 4])
  }

  @Test func aMissingPathIsAnErrorNotAnEmptySet() throws {
    let result = try agent("validate", "no/such/folder")
    #expect(result.status == 1)
    #expect(result.stderr.hasPrefix("no/such/folder: error: no such folder"))
  }

  @Test func outputHasNoColourWhenNotATerminal() throws {
    let result = try agent("validate", "Tests/Fixtures/invalid")
    #expect(result.status == 1)
    #expect(!result.stderr.contains("\u{1B}["))
  }

  @Test func aBadFlagIsAUsageError() throws {
    let result = try agent("validate", "--format", "yaml")
    #expect(result.status == 64)
    #expect(result.stderr.contains("--format"))
  }
}
