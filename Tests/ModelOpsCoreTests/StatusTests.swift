import Foundation
import ModelOpsCore
import Testing

@Suite struct StatusTests {
  func statuses(_ edit: (inout ObservedState) -> Void, yaml: String = fraudStack) throws -> [String: ResourceStatus] {
    let d = try desired(yaml, dvc: ["fraud-train": ["labels": "md5-a"]])
    var observed = ObservedState.assumingApplied(
      try desired(fraudStack, dvc: ["fraud-train": ["labels": "md5-a"]]), at: now)
    edit(&observed)
    let plan = Planner.plan(desired: d, observed: observed, now: now)
    let list = StatusReport.statuses(desired: d, observed: observed, plan: plan)
    return Dictionary(uniqueKeysWithValues: list.map { ("\($0.kind.rawValue)/\($0.name)", $0) })
  }

  @Test func aConvergedWorldIsSyncedAndHealthy() throws {
    let s = try statuses { _ in }
    #expect(s.values.allSatisfy { $0.sync == .synced && $0.health == .healthy })
    let template = DesiredState.templateDigest(
      of: try #require(try desired(fraudStack).manifests.deployments["fraud-api"]))
    #expect(s["Deployment/fraud-api"]?.message == "serving v0/\(template.prefix(7)), 2/2 replicas healthy")
    // v2 (production's, pinned) cannot take staging: the model says why.
    #expect(s["Model/fraud"]?.message == "staging=v0, production=v2; v2 has no metric 'auc' (not staging)")
  }

  @Test func aPendingChangeIsOutOfSyncAndProgressing() throws {
    let s = try statuses({ _ in }, yaml: fraudStack.replacingOccurrences(of: "replicas: 2", with: "replicas: 3"))
    #expect(s["Deployment/fraud-api"]?.sync == .outOfSync)
    #expect(s["Deployment/fraud-api"]?.health == .progressing)
    #expect(s["Deployment/fraud-api"]?.message.hasPrefix("scale 2 → 3") == true)
  }

  @Test func aFailedRunAndAFiringMonitorAreDegraded() throws {
    let s = try statuses { observed in
      observed.pipelines["fraud-train"]?.lastStartedAt = now.addingTimeInterval(60)
      observed.firingMonitors = ["fraud-errors"]
    }
    #expect(s["Pipeline/fraud-train"]?.health == .degraded)
    #expect(s["Pipeline/fraud-train"]?.message.contains("the last run failed") == true)
    #expect(s["Monitor/fraud-errors"]?.health == .degraded)
  }

  @Test func aRolledBackRevisionIsDegradedAndHeldWithTheReason() throws {
    let yaml = fraudStack.replacingOccurrences(of: "[python3, serve.py]", with: "[python3, bad.py]")
    let template = DesiredState.templateDigest(of: try #require(try desired(yaml).manifests.deployments["fraud-api"]))
    let s = try statuses(
      { $0.deployments["fraud-api"]?.failed = [Revision(modelVersion: 0, template: template)] }, yaml: yaml)
    let status = try #require(s["Deployment/fraud-api"])
    #expect(status.sync == .outOfSync)
    #expect(status.health == .degraded)
    #expect(status.message.contains("held: revision v0/\(template.prefix(7)) was rolled back"))
  }

  @Test func aResourceGoneFromGitIsPruning() throws {
    let s = try statuses(
      { _ in },
      yaml: fraudStack.components(separatedBy: "---\n").dropLast().joined(separator: "---\n")
        .replacingOccurrences(of: ", onAlert: [fraud-errors]", with: ""))
    #expect(s["Monitor/fraud-errors"]?.sync == .pruning)
  }
}
