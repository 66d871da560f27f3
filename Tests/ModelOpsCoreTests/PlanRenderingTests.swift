import Foundation
import ModelOpsCore
import Testing

/// Compares rendered output with `Golden/NAME`; `UPDATE_GOLDEN=1 swift test` rewrites the files.
func expectGolden(_ text: String, _ name: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
  let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name)")
  if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
    try Data(text.utf8).write(to: url)
    return
  }
  let golden = try String(contentsOf: url, encoding: .utf8)
  #expect(text == golden, "differs from Golden/\(name)", sourceLocation: sourceLocation)
}

@Suite struct PlanRenderingTests {
  /// A plan using most symbols: retrain, register, promote, roll out, scale, replace, delete, hold.
  func samplePlan() throws -> PlanReport {
    let base = try desired(fraudStack, dvc: ["fraud-train": ["labels": "md5-a"]])
    var observed = ObservedState.assumingApplied(base, at: now)
    observed.models["fraud"] = registry()
    observed.appliedResources.insert(ResourceID(.deployment, "legacy-api"))
    observed.deployments["legacy-api"] = ObservedDeployment(active: Revision(modelVersion: 1, template: "0123456789ab"))
    let head = try desired(
      fraudStack.replacingOccurrences(of: #"C: "1.0""#, with: #"C: "0.5""#), commit: "5a84649ae508aa",
      dvc: ["fraud-train": ["labels": "md5-a"]])
    let plan = Planner.plan(desired: head, observed: observed, now: now)
    return PlanReport(
      plan: plan, base: "6d8afd804813bb", changes: ManifestDiff.diff(base: base.manifests, head: head.manifests))
  }

  @Test func textReadsLikeTerraform() throws {
    try expectGolden(PlanRenderer.text(try samplePlan()), "plan.txt")
  }

  @Test func textHasColourOnlyWhenAsked() throws {
    let report = try samplePlan()
    #expect(!PlanRenderer.text(report).contains("\u{1B}["))
    #expect(PlanRenderer.text(report, colour: true).contains("\u{1B}[32m+\u{1B}[0m"))
  }

  @Test func markdownIsForPullRequestComments() throws {
    try expectGolden(PlanRenderer.markdown(try samplePlan()), "plan.md")
  }

  @Test func jsonIsStable() throws {
    try expectGolden(PlanRenderer.json(try samplePlan()), "plan.json")
  }

  @Test func anEmptyPlanSaysNoChanges() throws {
    let d = try desired(fraudStack, dvc: ["fraud-train": ["labels": "md5-a"]])
    let report = PlanReport(plan: Planner.plan(desired: d, observed: .assumingApplied(d, at: now), now: now))
    #expect(PlanRenderer.text(report) == "No changes. What runs matches commit c0ffee.\n")
    #expect(PlanRenderer.markdown(report).contains("**No changes.**"))
  }

  @Test(arguments: [2_000, 5_000, 65_536])
  func markdownStaysUnderTheLimitAndSaysWhatItLeftOut(limit: Int) throws {
    // 400 deployments created at once: far more than a comment holds.
    var yaml = fraudStack
    for i in 0..<400 {
      yaml += "\n---\napiVersion: modelops/v1\nkind: Deployment\nmetadata: {name: api-\(i)}\n"
      yaml += "spec: {model: fraud@production, command: [python3, serve.py], listen: 127.0.0.1:\(10_000 + i)}\n"
    }
    let d = try desired(yaml)
    var observed = ObservedState()
    observed.models["fraud"] = registry()
    let markdown = PlanRenderer.markdown(
      PlanReport(plan: Planner.plan(desired: d, observed: observed, now: now)), limit: limit)
    #expect(markdown.count <= limit)
    #expect(markdown.hasPrefix("<!-- modelops-plan -->\n"))
    #expect(markdown.contains("Left out to stay under GitHub's \(limit)-character limit"))
  }
}
