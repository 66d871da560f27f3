import Foundation
import Testing

/// `manifests/schema/modelops.schema.json` agrees with the loader: the examples pass both, and
/// each invalid fixture is refused by both, the loader with the message expected of it.
@Suite struct SchemaTests {
  static let fixtures: [(String, String)] = [
    ("unknown-field.yaml", "6:3: error: unknown field 'retian' (did you mean 'retain'?)"),
    ("missing-steps.yaml", "5:3: error: missing required field 'steps' in 'spec'"),
    ("bad-name.yaml", "3:18: error: metadata.name 'Fraud_Detector' is not a valid name"),
    ("bad-duration.yaml", "6:31: error: 'spec.source.scrape.interval' is not a duration: '5'"),
    ("strategy-misfit.yaml", "8:29: error: 'steps' applies only to strategy type 'canary', not 'rolling'"),
    ("pinned-gates.yaml", "8:7: error: 'gates' applies only to a policy alias; 'production' is pinned to a version"),
    ("alertmanager-threshold.yaml", "7:3: error: 'threshold' is not used with an alertmanager source"),
    ("router-metric.yaml", "7:11: error: 'errorRate', 'latency' and 'agreement' are measured by the router"),
    ("workdir-escape.yaml", "6:12: error: 'spec.workdir' must be a path inside the repository, got '../outside'"),
  ]

  static func exampleManifests() throws -> [String] {
    let root = repositoryRoot.appendingPathComponent("examples")
    let walker = FileManager.default.enumerator(atPath: root.path)
    var files: [String] = []
    while let path = walker?.nextObject() as? String {
      if path.contains("/manifests/"), path.hasSuffix(".yaml") { files.append("examples/\(path)") }
    }
    return files.sorted()
  }

  @Test func examplesPassAndInvalidFixturesFailTheJSONSchema() throws {
    let examples = try Self.exampleManifests()
    #expect(examples.count >= 9)
    let invalid = Self.fixtures.map { "Tests/Fixtures/invalid/\($0.0)" }
    let outcome = try run(
      URL(fileURLWithPath: "/usr/bin/env"),
      ["python3", "manifests/schema/check.py", "--valid"] + examples + ["--invalid"] + invalid)
    #expect(outcome.status == 0, "\(outcome.stdout)\(outcome.stderr)")
    let reports = outcome.stdout.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    #expect(reports.count == examples.count + invalid.count)
    for report in reports where report["expected"] as? String == "invalid" {
      #expect((report["errors"] as? [String])?.isEmpty == false, "\(report)")
    }
  }

  @Test(arguments: fixtures.map(\.0))
  func theLoaderRefusesEachInvalidFixtureForTheSameReason(file: String) throws {
    let path = "Tests/Fixtures/invalid/\(file)"
    let expected = Self.fixtures.first { $0.0 == file }?.1 ?? ""
    let result = try agent("validate", path)
    #expect(result.status == 1)
    #expect(result.stderr.contains("\(path):\(expected)"), "\(result.stderr)")
  }
}
