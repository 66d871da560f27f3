import Drivers
import Foundation
import ModelOpsCore
import StateStore

extension ServingExecutor {
  /// Remembers the deployments of the desired state being applied, and routes them.
  public func declare(_ deployments: [String: Deployment]) {
    // Containers are adopted before the supervisor may probe the deployments: a replica whose
    // container id was never saved is found by label, not taken for gone.
    for (name, deployment) in deployments where (deployment.spec.runtime ?? defaultRuntime) == .docker {
      try? adoptContainers(of: name)
    }
    declared.withLock { $0 = deployments }
    routable.withLock { $0 = true }
    publishRoutes()
  }

  /// Sends the router the healthy replicas of every declared deployment and the traffic split.
  public func publishRoutes() {
    // Before the first desired state is declared, the table would be empty: a router adopted from
    // a previous agent keeps the one it has.
    guard let router, routable.withLock({ $0 }) else { return }
    // A desired state without deployments while some are recorded is a deletion of everything,
    // which the planner holds: the endpoints keep serving what they serve.
    if declared.withLock({ $0.isEmpty }), !((try? store.deploymentRecords()) ?? []).isEmpty { return }
    router.update(currentRoutes())
  }

  /// Each declared deployment's route: healthy replicas of the active revision are stable, those
  /// of the revision rolling out are the canary, with the rollout's weight.
  public func currentRoutes() -> [String: DeploymentRoute] {
    let deployments = declared.withLock { $0 }
    let records = Dictionary(((try? store.deploymentRecords()) ?? []).map { ($0.name, $0) }) { a, _ in a }
    let replicas = Dictionary(grouping: (try? store.replicas()) ?? [], by: \.deployment)
    var routes: [String: DeploymentRoute] = [:]
    for (name, deployment) in deployments {
      var route = DeploymentRoute(listen: deployment.spec.listen, previewListen: deployment.spec.strategy.previewListen)
      let record = records[name]
      for replica in replicas[name] ?? [] where replica.health == .healthy {
        guard let port = replica.port else { continue }
        let backend = DeploymentRoute.Backend(port: port, version: replica.revision.modelVersion, replica: replica.id)
        if replica.revision == record?.active {
          route.stable.append(backend)
        } else if replica.revision == record?.rollout {
          route.canary.append(backend)
        }
      }
      route.canaryWeight = record?.active == nil ? 100 : (record?.rolloutWeight ?? 0)
      routes[name] = route
    }
    return routes
  }
}
