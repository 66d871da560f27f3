import Drivers
import Foundation
import Hummingbird
import Logging
import ModelOpsCore
import Reconciler
import Server

extension RunCommand {
  /// The Ray cluster of `ray:`: its dashboard (with the token read once) and where its jobs reach
  /// the agent's API (`ray.callback`, or `api.listen` when that is an address the nodes can use).
  static func rayCluster(_ ray: AgentConfig.Ray, listen: ListenAddress) throws -> (
    dashboard: RayDashboard, training: RayTraining, serve: RayServe
  ) {
    let dashboard = RayDashboard(address: ray.address, token: try ray.token.map(Credentials.secret))
    var callback = ray.callback
    if callback == nil {
      guard !["0.0.0.0", "::", ""].contains(listen.host) else {
        throw CommandFailure(
          "ray.callback is needed: api.listen \(listen) does not say at which address the Ray nodes reach the agent "
            + "(e.g. ray: {callback: http://10.0.0.5:7070})")
      }
      callback = "http://\(listen)"
    }
    // A loopback callback reaches the agent only from its own host.
    let callbackHost = AgentConfig.Ray(address: callback ?? "").dashboardHost
    if isLoopback(callbackHost), !isLoopback(ray.dashboardHost) {
      throw CommandFailure(
        "the Ray nodes at \(ray.address) cannot reach the agent at \(callback ?? ""): set ray.callback to an address "
          + "they can (and api.listen to match)")
    }
    let serve = RayServe(dashboard: dashboard, proxyHost: ray.serveHost ?? ray.dashboardHost, proxyPort: ray.servePort)
    return (dashboard, RayTraining(dashboard: dashboard, callback: callback), serve)
  }

  /// Serves the Ray jobs' output routes on `listen` until the task is cancelled (`agent apply`,
  /// which has no API of its own).
  static func serveRayOutput(_ ray: (listen: ListenAddress, output: RayStepOutput), logger: Logger) -> Task<Void, Never>
  {
    let application = AgentServer.rayOutputApplication(listen: ray.listen, output: ray.output, logger: logger)
    return Task.detached {
      do { try await application.runService() } catch {
        logger.error("the Ray jobs' output cannot be received", metadata: ["error": "\(error)"])
      }
    }
  }
}
