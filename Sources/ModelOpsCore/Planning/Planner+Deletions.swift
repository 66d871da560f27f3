extension PlanningContext {
  /// Prune what the last applied commit had and this one does not; never every deployment at once
  /// unless allowed (SPEC §8.5).
  mutating func planDeletions(options: PlanOptions) {
    var gone = observed.appliedResources.filter { !manifests.contains($0) }
    for name in observed.deployments.keys where manifests.deployments[name] == nil {
      gone.insert(ResourceID(.deployment, name))
    }
    let deletesEveryDeployment = manifests.deployments.isEmpty && gone.contains { $0.kind == .deployment }
    for id in gone.sorted() {
      if id.kind == .deployment, deletesEveryDeployment, !options.allowDeleteAll {
        actions.append(
          Action(
            .hold, id,
            reason: "this commit removes every deployment; run `agent apply --allow-delete-all` if that is intended"))
        continue
      }
      actions.append(Action(.delete, id, reason: Self.deletionEffect(id.kind)))
    }
  }

  static func deletionEffect(_ kind: ResourceKind) -> String {
    switch kind {
    case .model: return "removed from git: its aliases are no longer managed (versions are kept)"
    case .pipeline: return "removed from git: no more runs are started (past runs and versions are kept)"
    case .deployment: return "removed from git: its replicas stop and its endpoint closes"
    case .monitor: return "removed from git: no longer evaluated"
    }
  }
}
