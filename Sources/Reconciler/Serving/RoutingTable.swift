import Drivers
import Foundation
import ModelOpsCore
import StateStore
import Synchronization

/// The deployments of the desired state being applied, and the table the router serves from
/// them: for each, the healthy replicas of the active revision (stable) and of the revision
/// rolling out (canary), with the rollout's weight. Published whole at every change.
final class RoutingTable: Sendable {
  let router: (any TrafficRouter)?
  let store: StateStore
  private let declared = Mutex<[String: Deployment]>([:])
  /// Whether the deployments of a desired state have been declared (routes may be published,
  /// replicas probed).
  private let routable = Mutex(false)

  /// Serve's HTTP proxy, where the applications of `runtime: ray` revisions answer.
  let rayProxyHost: String?

  init(router: (any TrafficRouter)?, store: StateStore, rayProxyHost: String? = nil) {
    self.router = router
    self.store = store
    self.rayProxyHost = rayProxyHost
  }

  /// The deployments of the last desired state declared.
  var deployments: [String: Deployment] { declared.withLock { $0 } }
  var isDeclared: Bool { routable.withLock { $0 } }

  func deployment(named name: String) -> Deployment? { declared.withLock { $0[name] } }

  /// Remembers the deployments of the desired state being applied, and routes them.
  func declare(_ deployments: [String: Deployment]) {
    declared.withLock { $0 = deployments }
    routable.withLock { $0 = true }
    publish()
  }

  /// A deployment that left git: no longer routed.
  func forget(_ name: String) {
    declared.withLock { _ = $0.removeValue(forKey: name) }
    publish()
  }

  /// Sends the router the whole table.
  func publish() {
    // Before the first desired state is declared, the table would be empty: a router adopted from
    // a previous agent keeps the one it has.
    guard let router, isDeclared else { return }
    // A desired state without deployments while some are recorded is a deletion of everything,
    // which the planner holds: the endpoints keep serving what they serve.
    if declared.withLock({ $0.isEmpty }), !((try? store.deploymentRecords()) ?? []).isEmpty { return }
    router.update(currentRoutes())
  }

  /// Each declared deployment's route: healthy replicas of the active revision are stable, those
  /// of the revision rolling out are the canary, with the rollout's weight.
  func currentRoutes() -> [String: DeploymentRoute] {
    let deployments = self.deployments
    let records = Dictionary(((try? store.deploymentRecords()) ?? []).map { ($0.name, $0) }) { a, _ in a }
    let replicas = Dictionary(grouping: (try? store.replicas()) ?? [], by: \.deployment)
    var routes: [String: DeploymentRoute] = [:]
    for (name, deployment) in deployments {
      var route = DeploymentRoute(listen: deployment.spec.listen, previewListen: deployment.spec.strategy.previewListen)
      let record = records[name]
      for replica in replicas[name] ?? [] where replica.health == .healthy {
        guard let port = replica.port else { continue }
        var backend = DeploymentRoute.Backend(port: port, version: replica.revision.modelVersion, replica: replica.id)
        if let app = replica.rayApp {
          backend.host = rayProxyHost ?? backend.host
          backend.pathPrefix = "/\(app)"
        }
        if replica.revision == record?.active {
          route.stable.append(backend)
        } else if replica.revision == record?.rollout {
          route.canary.append(backend)
        }
      }
      route.canaryWeight = record?.active == nil ? 100 : (record?.rolloutWeight ?? 0)
      if case .canary(let steps, let routing) = deployment.spec.strategy {
        route.routing = routing
        // A mirror step that has begun (its replicas are up): copies of requests go to them.
        if let record, record.rollout != nil, record.rolloutStepStartedAt != nil,
          steps.indices.contains(record.rolloutStep)
        {
          route.mirror = steps[record.rolloutStep].mirror
        }
      }
      routes[name] = route
    }
    return routes
  }
}
