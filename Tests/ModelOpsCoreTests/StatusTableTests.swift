import Foundation
import ModelOpsCore
import Testing

/// `agent status`'s table (golden): columns, the message cut to 120 columns or whole (`--wide`),
/// colours that leave the columns lined up, and what a model says about versions it did not take.
@Suite struct StatusTableTests {
  /// The fraud stack with staging on v0 serving, v3 below the staging gate, a rolled-back
  /// revision held and one replica down.
  func troubled() throws -> [ResourceStatus] {
    let yaml = fraudStack.replacingOccurrences(of: "[python3, serve.py]", with: "[python3, bad.py]")
    let d = try desired(yaml, dvc: ["fraud-train": ["labels": "md5-a"]])
    var observed = ObservedState.assumingApplied(
      try desired(fraudStack, dvc: ["fraud-train": ["labels": "md5-a"]]), at: now)
    observed.models["fraud"]?.versions.append(ModelVersion(version: 3, metrics: ["auc": 0.85], createdAt: now))
    let template = DesiredState.templateDigest(of: try #require(d.manifests.deployments["fraud-api"]))
    observed.deployments["fraud-api"]?.failed = [Revision(modelVersion: 0, template: template)]
    observed.deployments["fraud-api"]?.failureReasons = [
      Revision(modelVersion: 0, template: template): "analysis failed: monitor 'fraud-errors' fired on v0"
    ]
    observed.deployments["fraud-api"]?.replicas[1].health = .exited
    let plan = Planner.plan(desired: d, observed: observed, now: now)
    return StatusReport.statuses(desired: d, observed: observed, plan: plan, now: now)
  }

  @Test func aTableCutTo120ColumnsAndWhole() throws {
    let statuses = try troubled()
    let table = StatusTable.render(statuses)
    #expect(table.split(separator: "\n").allSatisfy { $0.count <= 120 })
    try expectGolden(table, "status.txt")
    try expectGolden(StatusTable.render(statuses, width: nil), "status-wide.txt")
  }

  @Test func coloursLeaveTheColumnsLinedUp() throws {
    let statuses = try troubled()
    let coloured = StatusTable.render(statuses, colour: true)
    #expect(coloured.contains("\u{1B}[1;31mdegraded\u{1B}[0m"))
    let plain = coloured.replacing(#/\x{1B}\[[0-9;]*m/#, with: "")
    #expect(plain == StatusTable.render(statuses))
  }

  @Test func aModelSaysWhichVersionAGateHeldBackAndWhatServes() throws {
    let model = try #require(try troubled().first { $0.kind == .model })
    #expect(model.message.contains("v3 auc 0.85 is below the gate's min 0.9 (not staging)"), "\(model.message)")
    #expect(model.version == "v3")
  }
}
