import Foundation
import ModelOpsCore
import Testing

@Suite struct ValueParsingTests {
  @Test(arguments: [
    ("500ms", 500), ("30s", 30_000), ("5m", 300_000), ("2h", 7_200_000), ("1h30m", 5_400_000), ("0s", 0),
  ])
  func durationsParseToMilliseconds(text: String, ms: Int64) {
    #expect(ManifestDuration(parsing: text)?.milliseconds == ms)
  }

  @Test(arguments: ["30", "s", "-5s", "1.5h", "5 m", "", "99999999999999h", "10x", "100000000000d100000000000d"])
  func malformedDurationsAreRefused(text: String) {
    #expect(ManifestDuration(parsing: text) == nil)
  }

  @Test func durationsPrintInTheirShortestForm() {
    #expect(ManifestDuration(milliseconds: 5_400_500).description == "1h30m500ms")
  }

  @Test(arguments: [("512Mi", Int64(512) << 20), ("2Gi", Int64(2) << 30), ("100M", 100_000_000), ("4096", 4096)])
  func sizesParseToBytes(text: String, bytes: Int64) {
    #expect(ByteSize(parsing: text)?.bytes == bytes)
  }

  @Test(arguments: ["512MB", "Mi", "0", "-1Gi", "1.5Gi"])
  func malformedSizesAreRefused(text: String) {
    #expect(ByteSize(parsing: text) == nil)
  }

  @Test func cronFieldsExpandToTheirValues() throws {
    let s = try CronSchedule.parse("*/15 3,4 1-5 JAN-MAR 7").get()
    #expect(s.minutes == [0, 15, 30, 45])
    #expect(s.hours == [3, 4])
    #expect(s.daysOfMonth == [1, 2, 3, 4, 5])
    #expect(s.months == [1, 2, 3])
    #expect(s.daysOfWeek == [0])
  }

  @Test func cronMacrosExpand() throws {
    #expect(try CronSchedule.parse("@weekly").get().daysOfWeek == [0])
  }

  @Test(arguments: [
    "60 * * * *", "* * 0 * *", "* * * 13 *", "5-1 * * * *", "*/0 * * * *", "@often", "* * * *", "a b c d e",
  ])
  func malformedCronExpressionsAreRefused(text: String) {
    #expect((try? CronSchedule.parse(text).get()) == nil)
  }
}

@Suite struct IgnoreRulesTests {
  @Test(arguments: [
    ("legacy.yaml", "legacy.yaml", false, true),
    ("legacy.yaml", "sub/legacy.yaml", false, true),
    ("/legacy.yaml", "sub/legacy.yaml", false, false),
    ("helm/", "helm", true, true),
    ("helm/", "helm", false, false),
    ("*.tmpl.yaml", "a/b/x.tmpl.yaml", false, true),
    ("charts/**/values.yaml", "charts/a/b/values.yaml", false, true),
    ("charts/**/values.yaml", "charts/values.yaml", false, true),
    ("x[0-9].yaml", "x7.yaml", false, true),
    ("x[!0-9].yaml", "x7.yaml", false, false),
    ("k?.yaml", "k8.yaml", false, true),
    ("\\#odd.yaml", "#odd.yaml", false, true),
  ])
  func patternsMatchAsInGitignore(pattern: String, path: String, isFolder: Bool, ignored: Bool) {
    #expect(IgnoreRules(parsing: pattern).isIgnored(path, isFolder: isFolder) == ignored)
  }

  @Test func theLastMatchingPatternWinsAndCommentsAreSkipped() {
    let rules = IgnoreRules(parsing: "# generated\n*.yaml\n!keep.yaml\n")
    #expect(rules.isIgnored("drop.yaml", isFolder: false))
    #expect(!rules.isIgnored("keep.yaml", isFolder: false))
    #expect(!rules.isIgnored("# generated", isFolder: false))
  }
}

@Suite struct TextEncodingTests {
  @Test func valuesWrittenAsTextEncodeAsTheSameText() throws {
    let reference = ModelReference(model: "fraud", selector: .alias("production"))
    let listen = ListenAddress(host: "::1", port: 9000)
    let duration = try #require(ManifestDuration(parsing: "90s"))
    let encoded = try JSONEncoder().encode([reference.description: listen])
    #expect(String(decoding: encoded, as: UTF8.self) == #"{"fraud@production":"[::1]:9000"}"#)
    #expect(String(decoding: try JSONEncoder().encode([duration]), as: UTF8.self) == #"["1m30s"]"#)
  }
}

@Suite struct ImageReferenceTests {
  @Test(arguments: [
    "python", "localhost/modelops-python:test", "registry.example.com:5000/team/serving:1.2.3",
    "ghcr.io/org/model_server__x:v1-rc.2",
    "localhost/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
  ])
  func dockerReferencesAreAccepted(image: String) {
    let yaml =
      "apiVersion: modelops/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  model: m@1\n"
      + "  runtime: docker\n  image: \"\(image)\"\n  listen: 127.0.0.1:9001\n"
    let result = ManifestLoader.load(from: MemoryTree(files: ["d.yaml": yaml]))
    #expect(!result.diagnostics.contains { $0.message.contains("spec.image") }, "\(result.diagnostics)")
  }

  @Test(arguments: ["Upper/case:1", "a b", "x:", "-x", "/abs", "x:tag with space", "x@sha256:short", "a//b"])
  func othersAreRefused(image: String) {
    let yaml =
      "apiVersion: modelops/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  model: m@1\n"
      + "  runtime: docker\n  image: \"\(image)\"\n  listen: 127.0.0.1:9001\n"
    let result = ManifestLoader.load(from: MemoryTree(files: ["d.yaml": yaml]))
    #expect(result.diagnostics.contains { $0.message.contains("'spec.image' is not an image reference") })
  }
}
