import Foundation

/// Options that change what a plan may do.
public struct PlanOptions: Sendable, Hashable {
  /// Allow a commit that removes every deployment to delete them (SPEC §8.5).
  public var allowDeleteAll = false

  public init(allowDeleteAll: Bool = false) { self.allowDeleteAll = allowDeleteAll }
}

/// `plan(desired, observed, now)`: the actions that bring what runs in line with one commit.
///
/// Pure and deterministic: no I/O, no clock (time is `now`), no randomness. Actions come in
/// dependency order: train → register → promote → roll out, then deletions, and a deployment
/// that follows an alias waits for the promotion that moves it.
public enum Planner {
  public static func plan(
    desired: DesiredState, observed: ObservedState, now: Date, options: PlanOptions = PlanOptions()
  ) -> Plan {
    var context = PlanningContext(desired: desired, observed: observed, now: now)
    context.planTraining()
    context.planAliases()
    context.planDeployments()
    context.planDeletions(options: options)
    let actions = context.actions.sorted { a, b in
      (a.stage, a.resource.kind, a.resource.name, a.id) < (b.stage, b.resource.kind, b.resource.name, b.id)
    }
    return Plan(commit: desired.commit, actions: actions)
  }
}

extension Action {
  /// Position in the dependency order; a hold sits where the action it holds would.
  var stage: Int {
    switch verb {
    case .train: return 0
    case .register: return 1
    case .promote, .demote: return 2
    case .rollout, .scale, .replace, .rollback: return 3
    case .delete: return 4
    case .hold:
      switch resource.kind {
      case .pipeline: return 0
      case .model: return 2
      case .deployment, .monitor: return 3
      }
    }
  }
}

/// A version an alias will point to once the plan's earlier actions have run.
struct PlannedAlias {
  /// nil: a version that does not exist yet (the one a planned run registers).
  var version: Int?
  var label: String
  var actionID: String
}

/// The working state of one planning pass.
struct PlanningContext {
  let desired: DesiredState
  let observed: ObservedState
  let now: Date
  var actions: [Action] = []
  /// Register actions by model name.
  var registrations: [String: Action] = [:]
  /// Alias moves by model name and alias.
  var plannedAliases: [String: [String: PlannedAlias]] = [:]

  init(desired: DesiredState, observed: ObservedState, now: Date) {
    self.desired = desired
    self.observed = observed
    self.now = now
  }

  var manifests: ManifestSet { desired.manifests }
}
