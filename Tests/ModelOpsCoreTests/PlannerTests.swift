import Foundation
import ModelOpsCore
import Testing

/// A fixed clock: plans never read the real one.
let now = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z, a Friday

/// Loads manifests from YAML documents, failing the test if they are invalid.
func desired(_ yaml: String, commit: String? = "c0ffee", dvc: [String: [String: String]] = [:]) throws -> DesiredState {
  let result = ManifestLoader.load(from: MemoryTree(files: ["all.yaml": yaml]))
  try #require(result.isValid, "\(result.diagnostics)")
  return DesiredState(commit: commit, manifests: result.manifests, dvcDigests: dvc)
}

let fraudStack = """
  apiVersion: modelops/v1
  kind: Model
  metadata: {name: fraud}
  spec:
    pipeline: fraud-train
    aliases:
      staging: {policy: latest-passing, gates: [{metric: auc, min: 0.9}]}
      production: {version: 2}
  ---
  apiVersion: modelops/v1
  kind: Pipeline
  metadata: {name: fraud-train}
  spec:
    model: fraud
    params: {C: "1.0"}
    inputs: [{name: labels, dvc: data/labels.csv.dvc}]
    steps: [{name: train, run: python3 train.py}]
    triggers: {schedule: "0 3 * * 1", onAlert: [fraud-errors]}
  ---
  apiVersion: modelops/v1
  kind: Deployment
  metadata: {name: fraud-api}
  spec:
    model: fraud@staging
    command: [python3, serve.py]
    replicas: 2
    listen: 127.0.0.1:9000
    strategy: {type: canary, steps: [{weight: 10, pause: 30s}, {weight: 50, pause: 30s}]}
  ---
  apiVersion: modelops/v1
  kind: Monitor
  metadata: {name: fraud-errors}
  spec:
    deployment: fraud-api
    source: {scrape: {}}
    metric: {gauge: errors}
    threshold: {max: 1}
    actions: [rollback, notify]
  """

/// A registry holding versions 1–3 with metrics, staging on v1 and production on v2.
func registry(rejecting rejected: Set<Int> = []) -> ObservedModel {
  ObservedModel(
    versions: [
      ModelVersion(version: 1, metrics: ["auc": 0.91], createdAt: now.addingTimeInterval(-9000)),
      ModelVersion(version: 2, metrics: ["auc": 0.93], createdAt: now.addingTimeInterval(-8000)),
      ModelVersion(
        version: 3, metrics: ["auc": 0.95], createdAt: now.addingTimeInterval(-100), rejected: rejected.contains(3)),
    ],
    aliasHistory: [
      "staging": [AliasTenure(version: 1, since: now.addingTimeInterval(-8500))],
      "production": [AliasTenure(version: 2, since: now.addingTimeInterval(-7000))],
    ])
}

@Suite struct PlannerTests {
  func converged() throws -> (DesiredState, ObservedState) {
    let d = try desired(fraudStack, dvc: ["fraud-train": ["labels": "md5-a"]])
    return (d, ObservedState.assumingApplied(d, at: now))
  }

  /// The plan of the stack with one edit, against the converged world of the stack as it was.
  func planAfterReplacing(_ text: String, with replacement: String) throws -> Plan {
    let edited = try desired(
      fraudStack.replacingOccurrences(of: text, with: replacement), dvc: ["fraud-train": ["labels": "md5-a"]])
    return Planner.plan(desired: edited, observed: try converged().1, now: now)
  }

  @Test func aFirstApplyTrainsRegistersPromotesThenCreatesInThatOrder() throws {
    let d = try desired(fraudStack)
    let plan = Planner.plan(desired: d, observed: ObservedState(), now: now)
    #expect(
      plan.actions.map(\.id) == [
        "train/Pipeline/fraud-train",
        "register/Model/fraud/v1",
        "hold/Model/fraud/production",
        "promote/Model/fraud/staging",
        "rollout/Deployment/fraud-api",
      ])
    let rollout = try #require(plan.actions.last)
    #expect(rollout.dependsOn == ["promote/Model/fraud/staging"])
    #expect(plan.actions[3].dependsOn == ["register/Model/fraud/v1"])
    #expect(plan.actions[2].reason == "alias 'production' is pinned to version 2, which is not in the registry")
  }

  @Test func aPlanOfAConvergedWorldIsEmpty() throws {
    let (d, observed) = try converged()
    let plan = Planner.plan(desired: d, observed: observed, now: now)
    #expect(plan.actions == [])
    #expect(!plan.hasChanges)
  }

  @Test func changedParamsRetrainAndTheNewVersionFollowsThePolicy() throws {
    let plan = try planAfterReplacing(#"C: "1.0""#, with: #"C: "2.0""#)
    #expect(plan.actions.map(\.verb) == [.train, .register, .promote, .rollout])
    #expect(plan.actions[0].reason == "spec, params or workdir changed since the last run")
    #expect(plan.actions[2].to == "staging=v3")
    #expect(plan.actions[3].dependsOn == [plan.actions[2].id])
    #expect(plan.actions[3].detail == ["canary 10% (30s) → 50% (30s) → 100%"])
  }

  @Test func aChangedDVCPointerRetrains() throws {
    let (_, observed) = try converged()
    let d = try desired(fraudStack, dvc: ["fraud-train": ["labels": "md5-b"]])
    let plan = Planner.plan(desired: d, observed: observed, now: now)
    #expect(plan.actions.first?.reason == "input 'labels' changed")
  }

  @Test func aDueScheduleRetrainsOncePerSlot() throws {
    let (d, observedAtStart) = try converged()
    var observed = observedAtStart
    // Last run the Friday before; the Monday 03:00 slot in between is due.
    observed.pipelines["fraud-train"]?.lastStartedAt = now.addingTimeInterval(-7 * 86_400)
    #expect(
      Planner.plan(desired: d, observed: observed, now: now).actions.first?.reason == "schedule '0 3 * * 1' is due")
    observed.pipelines["fraud-train"]?.lastStartedAt = now.addingTimeInterval(-3600)
    #expect(Planner.plan(desired: d, observed: observed, now: now).actions == [])
  }

  @Test func aFiringAlertRetrainsAndRollsBack() throws {
    let (d, observedAtStart) = try converged()
    var observed = observedAtStart
    observed.firingMonitors = ["fraud-errors"]
    observed.deployments["fraud-api"]?.previous = Revision(modelVersion: 7, template: "abc")
    let plan = Planner.plan(desired: d, observed: observed, now: now)
    #expect(plan.actions.map(\.verb) == [.train, .register, .promote, .rollback])
    #expect(plan.actions[0].reason == "monitor 'fraud-errors' fired")
    #expect(plan.actions[3].reason == "monitor 'fraud-errors' fired after the rollout")
    #expect(plan.actions[3].to == "v7/abc")
  }

  @Test func aFiringMonitorRetrainsOncePerFiring() throws {
    let (d, observedAtStart) = try converged()
    var observed = observedAtStart
    observed.firingMonitors = ["fraud-errors"]
    observed.firingVersions = ["fraud-errors": 3]
    observed.firingSince = ["fraud-errors": now.addingTimeInterval(-60)]
    observed.pipelines["fraud-train"]?.lastStartedAt = now.addingTimeInterval(-3600)
    #expect(
      Planner.plan(desired: d, observed: observed, now: now).actions.first?.reason
        == "monitor 'fraud-errors' fired on v3")
    // A run started after the monitor fired answers that firing.
    observed.pipelines["fraud-train"]?.lastStartedAt = now.addingTimeInterval(-30)
    #expect(!Planner.plan(desired: d, observed: observed, now: now).actions.contains { $0.verb == .train })
  }

  @Test func aMonitorWithTheRetrainActionRetrainsTheModelItWatches() throws {
    let d = try desired(
      fraudStack.replacingOccurrences(of: "actions: [rollback", with: "actions: [retrain, rollback")
        .replacingOccurrences(of: ", onAlert: [fraud-errors]", with: ""), dvc: ["fraud-train": ["labels": "md5-a"]])
    let observedAtStart = ObservedState.assumingApplied(d, at: now)
    var observed = observedAtStart
    observed.firingMonitors = ["fraud-errors"]
    #expect(
      Planner.plan(desired: d, observed: observed, now: now).actions.first
        == Action(.train, ResourceID(.pipeline, "fraud-train"), reason: "monitor 'fraud-errors' fired"))
  }

  @Test func aMonitorThatFiredOnAVersionNoLongerServingRollsNothingBack() throws {
    let (d, observedAtStart) = try converged()
    var observed = observedAtStart
    observed.firingMonitors = ["fraud-errors"]
    observed.deployments["fraud-api"]?.previous = Revision(modelVersion: 7, template: "abc")
    let serving = try #require(observed.deployments["fraud-api"]?.active?.modelVersion)
    observed.firingVersions["fraud-errors"] = 7
    #expect(!Planner.plan(desired: d, observed: observed, now: now).actions.contains { $0.verb == .rollback })
    observed.firingVersions["fraud-errors"] = serving
    #expect(Planner.plan(desired: d, observed: observed, now: now).actions.contains { $0.verb == .rollback })
  }

  @Test func aRunInProgressQueuesInsteadOfStartingAnother() throws {
    var observed = try converged().1
    observed.pipelines["fraud-train"]?.running = true
    let d = try desired(fraudStack.replacingOccurrences(of: #"C: "1.0""#, with: #"C: "3.0""#))
    let plan = Planner.plan(desired: d, observed: observed, now: now)
    #expect(plan.actions.map(\.verb) == [.hold])
    #expect(plan.actions.first?.reason.hasSuffix("queued behind the run in progress") == true)
  }

  @Test func aPinnedAliasMovesToItsVersionAndTheDeploymentWaitsForIt() throws {
    var observed = try converged().1
    observed.models["fraud"] = registry()
    let d = try desired(
      fraudStack.replacingOccurrences(of: "version: 2", with: "version: 3")
        .replacingOccurrences(of: "fraud@staging", with: "fraud@production"))
    observed.deployments["fraud-api"]?.active = Revision(
      modelVersion: 2, template: DesiredState.templateDigest(of: try #require(d.manifests.deployments["fraud-api"])))
    let plan = Planner.plan(desired: d, observed: observed, now: now)
    let promote = try #require(plan.actions.first { $0.id == "promote/Model/fraud/production" })
    #expect(promote.from == "production=v2")
    #expect(promote.to == "production=v3")
    let rollout = try #require(plan.actions.first { $0.verb == .rollout })
    #expect(rollout.dependsOn == [promote.id])
    #expect(rollout.reason == "model fraud v2 → v3")
  }

  @Test func aPolicyPicksTheNewestPassingVersionButNeverARejectedOne() throws {
    let (d, observedAtStart) = try converged()
    var observed = observedAtStart
    observed.models["fraud"] = registry()
    var plan = Planner.plan(desired: d, observed: observed, now: now)
    #expect(plan.actions.first { $0.verb == .promote }?.to == "staging=v3")
    observed.models["fraud"] = registry(rejecting: [3])
    plan = Planner.plan(desired: d, observed: observed, now: now)
    #expect(plan.actions.first { $0.verb == .promote }?.to == "staging=v2")
  }

  @Test(arguments: [(0.94, 0.0, true), (0.94, 0.005, false), (0.92, 0.0, false)])
  func aBeatsGateComparesWithTheOtherAliasPlusMargin(auc: Double, margin: Double, promoted: Bool) throws {
    let yaml = """
      apiVersion: modelops/v1
      kind: Model
      metadata: {name: m}
      spec:
        aliases:
          production: {version: 1}
          canary: {policy: latest-passing, gates: [{metric: auc, beats: production, margin: \(margin)}]}
      """
    let d = try desired(yaml)
    var observed = ObservedState()
    observed.models["m"] = ObservedModel(
      versions: [
        ModelVersion(version: 1, metrics: ["auc": 0.935], createdAt: now),
        ModelVersion(version: 2, metrics: ["auc": auc], createdAt: now),
      ],
      aliasHistory: ["production": [AliasTenure(version: 1, since: now)]])
    let plan = Planner.plan(desired: d, observed: observed, now: now)
    #expect((plan.actions.first { $0.id == "promote/Model/m/canary" }?.to == "canary=v2") == promoted)
  }

  @Test(arguments: [(25.0, true), (23.0, false)])
  func aPromotionOrderNeedsTheSoakOnTheFromAlias(hoursHeld: Double, promoted: Bool) throws {
    let yaml = """
      apiVersion: modelops/v1
      kind: Model
      metadata: {name: m}
      spec:
        aliases:
          staging: {policy: latest-passing}
          canary: {policy: latest-passing, from: staging, soak: 24h}
      """
    let d = try desired(yaml)
    var observed = ObservedState()
    observed.models["m"] = ObservedModel(
      versions: [ModelVersion(version: 4, createdAt: now)],
      aliasHistory: ["staging": [AliasTenure(version: 4, since: now.addingTimeInterval(-hoursHeld * 3600))]])
    let plan = Planner.plan(desired: d, observed: observed, now: now)
    #expect((plan.actions.first { $0.id == "promote/Model/m/canary" } != nil) == promoted)
  }

  @Test func aTemplateChangeRollsOutWithTheStrategy() throws {
    let plan = try planAfterReplacing("[python3, serve.py]", with: "[python3, serve2.py]")
    #expect(plan.actions.map(\.verb) == [.rollout])
    #expect(plan.actions.first?.reason == "replica template changed")
  }

  @Test func aReplicaCountChangeScalesWithoutARollout() throws {
    let plan = try planAfterReplacing("replicas: 2", with: "replicas: 4")
    #expect(plan.actions.map(\.headline) == ["scale 2 → 4"])
  }

  @Test func exitedAlteredAndMissingReplicasAreReplaced() throws {
    let (d, observedAtStart) = try converged()
    var observed = observedAtStart
    observed.deployments["fraud-api"]?.replicas[0].health = .exited
    observed.deployments["fraud-api"]?.replicas[1].health = .altered
    var plan = Planner.plan(desired: d, observed: observed, now: now)
    #expect(plan.actions.map(\.reason) == ["1 replica exited, 1 replica changed by hand"])
    #expect(plan.actions.first?.detail == ["fraud-api-0", "fraud-api-1"])
    observed.deployments["fraud-api"]?.replicas.removeAll()
    plan = Planner.plan(desired: d, observed: observed, now: now)
    #expect(plan.actions.map(\.reason) == ["2 replicas missing"])
  }

  @Test func aRolledBackRevisionIsHeldUntilTheDesiredRevisionChanges() throws {
    var observed = try converged().1
    let d = try desired(
      fraudStack.replacingOccurrences(of: "[python3, serve.py]", with: "[python3, bad.py]"),
      dvc: ["fraud-train": ["labels": "md5-a"]])
    let bad = Revision(
      modelVersion: 0, template: DesiredState.templateDigest(of: try #require(d.manifests.deployments["fraud-api"])))
    observed.deployments["fraud-api"]?.failed = [bad]
    var plan = Planner.plan(desired: d, observed: observed, now: now)
    #expect(plan.actions.map(\.verb) == [.hold])
    #expect(!plan.hasChanges)
    // Held, the revision serving still heals: a replica that exited is replaced.
    observed.deployments["fraud-api"]?.replicas[0].health = .exited
    plan = Planner.plan(desired: d, observed: observed, now: now)
    #expect(plan.actions.map(\.verb) == [.hold, .replace])
    #expect(plan.actions.last?.reason == "1 replica exited")
  }

  @Test func removedResourcesArePrunedButNotEveryDeploymentAtOnce() throws {
    let (_, observed) = try converged()
    let withoutMonitor = try desired(
      fraudStack.components(separatedBy: "---\n").dropLast().joined(separator: "---\n")
        .replacingOccurrences(of: ", onAlert: [fraud-errors]", with: ""))
    var plan = Planner.plan(desired: withoutMonitor, observed: observed, now: now)
    #expect(plan.actions.filter { $0.verb == .delete }.map(\.resource) == [ResourceID(.monitor, "fraud-errors")])

    let onlyModel = try desired(
      """
      apiVersion: modelops/v1
      kind: Model
      metadata: {name: fraud}
      spec: {aliases: {staging: {policy: latest-passing, gates: [{metric: auc, min: 0.9}]}, production: {version: 2}}}
      """)
    plan = Planner.plan(desired: onlyModel, observed: observed, now: now)
    #expect(
      plan.actions.map(\.id) == [
        "hold/Deployment/fraud-api", "delete/Pipeline/fraud-train", "delete/Monitor/fraud-errors",
      ])
    plan = Planner.plan(desired: onlyModel, observed: observed, now: now, options: PlanOptions(allowDeleteAll: true))
    #expect(
      plan.actions.map(\.id) == [
        "delete/Pipeline/fraud-train", "delete/Deployment/fraud-api", "delete/Monitor/fraud-errors",
      ])
  }

  @Test func anAliasRemovedFromGitIsDemoted() throws {
    let plan = try planAfterReplacing("    production: {version: 2}\n", with: "")
    #expect(plan.actions.map(\.id) == ["demote/Model/fraud/production"])
  }
}
