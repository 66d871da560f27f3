import Foundation

extension ObservedState {
  /// The world as it would be once `desired` was applied and every action had finished: pinned
  /// aliases at their versions, pipelines trained at this spec, deployments healthy.
  ///
  /// Pull-request mode plans HEAD against this picture of BASE, since CI has no agent state. The
  /// version behind a policy alias cannot be known that way; it is shown as `v0`.
  public static func assumingApplied(_ desired: DesiredState, at now: Date) -> ObservedState {
    var observed = ObservedState()
    let manifests = desired.manifests
    observed.appliedCommit = desired.commit
    observed.appliedResources = Set(manifests.locations.keys)
    for (name, model) in manifests.models {
      var seen = ObservedModel(versions: [ModelVersion(version: 0, createdAt: now)])
      for alias in model.spec.aliases {
        var version = 0
        if case .pinned(let pinned) = alias.target {
          version = pinned
          if seen.version(pinned) == nil { seen.versions.append(ModelVersion(version: pinned, createdAt: now)) }
        }
        seen.aliasHistory[alias.name] = [AliasTenure(version: version, since: now)]
      }
      observed.models[name] = seen
    }
    for (name, pipeline) in manifests.pipelines {
      observed.pipelines[name] = ObservedPipeline(
        lastSuccess: RunSummary(
          specDigest: desired.specDigest(of: pipeline), inputDigests: desired.dvcDigests[name] ?? [:],
          commit: desired.commit, finishedAt: now),
        lastStartedAt: now)
    }
    for (name, deployment) in manifests.deployments {
      let model = observed.models[deployment.spec.model.model]
      let version: Int
      switch deployment.spec.model.selector {
      case .version(let v):
        version = v
        if model?.version(v) == nil {
          observed.models[deployment.spec.model.model]?.versions.append(ModelVersion(version: v, createdAt: now))
        }
      case .alias(let a): version = model?.current(a) ?? 0
      }
      let revision = Revision(modelVersion: version, template: DesiredState.templateDigest(of: deployment))
      var seen = ObservedDeployment(active: revision, desiredReplicas: deployment.spec.replicas)
      seen.replicas = (0..<deployment.spec.replicas).map {
        ObservedDeployment.Replica(id: "\(name)-\($0)", revision: revision, health: .healthy)
      }
      observed.deployments[name] = seen
    }
    return observed
  }
}
