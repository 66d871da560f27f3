import Foundation
import Synchronization

/// A Serve application to deploy: one revision of a `runtime: ray` deployment.
public struct ServeApplication: Sendable, Hashable {
  public var name: String
  /// `/<name>`: Serve routes by it; the agent's router puts it before each request's path.
  public var routePrefix: String
  public var importPath: String
  /// `gcs://_ray_pkg_….zip`: the commit's code and the model version's artifact.
  public var workingDir: String
  public var env: [String: String]
  /// `deployments` overrides (`name`, `num_replicas` or `autoscaling_config`, `ray_actor_options`).
  public var deployment: Override?

  public struct Override: Sendable, Hashable {
    public var name: String
    public var replicas: Int?
    public var autoscaling: (min: Int, max: Int)?
    public var cpus: Double?
    public var gpus: Double?
    public var memory: Int64?

    public init(name: String) { self.name = name }

    public static func == (a: Override, b: Override) -> Bool {
      a.name == b.name && a.replicas == b.replicas && a.autoscaling?.min == b.autoscaling?.min
        && a.autoscaling?.max == b.autoscaling?.max && a.cpus == b.cpus && a.gpus == b.gpus && a.memory == b.memory
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
  }

  public init(name: String, importPath: String, workingDir: String, env: [String: String]) {
    self.name = name
    self.routePrefix = "/\(name)"
    self.importPath = importPath
    self.workingDir = workingDir
    self.env = env
  }

  /// As Serve's config schema has it.
  var config: [String: Any] {
    var app: [String: Any] = [
      "name": name, "route_prefix": routePrefix, "import_path": importPath,
      "runtime_env": ["working_dir": workingDir, "env_vars": env],
    ]
    if let deployment {
      var entry: [String: Any] = ["name": deployment.name]
      if let replicas = deployment.replicas { entry["num_replicas"] = replicas }
      if let (low, high) = deployment.autoscaling {
        entry["autoscaling_config"] = ["min_replicas": low, "max_replicas": high]
      }
      var actor: [String: Any] = [:]
      if let cpus = deployment.cpus { actor["num_cpus"] = cpus }
      if let gpus = deployment.gpus { actor["num_gpus"] = gpus }
      if let memory = deployment.memory { actor["memory"] = memory }
      if !actor.isEmpty { entry["ray_actor_options"] = actor }
      app["deployments"] = [entry]
    }
    return app
  }
}

/// A Serve application as the cluster reports it.
public struct ServeApplicationStatus: Sendable {
  /// `NOT_STARTED`, `DEPLOYING`, `RUNNING`, `DEPLOY_FAILED`, `UNHEALTHY`, `DELETING`.
  public var status: String
  /// Ray's words (a failed import's traceback).
  public var message: String
  public var importPath: String?
  public var workingDir: String?
  /// `MODELOPS_REPLICA` of its environment: the replica of the agent it was deployed for.
  public var replica: String?
  /// `MODELOPS_OWNER` of its environment: which agent (state folder) deployed it.
  public var owner: String?

  public init(status: String, message: String = "", replica: String? = nil, owner: String? = nil) {
    self.status = status
    self.message = message
    self.replica = replica
    self.owner = owner
  }
}

/// Ray Serve's declarative config through the dashboard (`/api/serve/applications/`): the agent
/// adds and removes its own applications and leaves every other one as the cluster has it (the
/// config is replaced whole on each PUT, so it is read first, under a lock for this agent's
/// writers). The first application started also starts Serve, its HTTP proxy on `proxyHost` and
/// `proxyPort` on the head node only.
public final class RayServe: Sendable {
  public let dashboard: RayDashboard
  public let proxyHost: String
  public let proxyPort: Int
  private let writing = Mutex(())

  public init(dashboard: RayDashboard, proxyHost: String, proxyPort: Int) {
    self.dashboard = dashboard
    self.proxyHost = proxyHost
    self.proxyPort = proxyPort
  }

  /// Where Serve's proxy listens, for a proxy the router reaches at `host`: loopback stays
  /// loopback; any other name or address means every interface of the head node.
  static func bindHost(for host: String) -> String {
    host == "localhost" || host.hasPrefix("127.") || host == "::1"
      ? (host == "localhost" ? "127.0.0.1" : host) : "0.0.0.0"
  }

  /// Every application the cluster has, by name.
  public func applications() throws(RayError) -> [String: ServeApplicationStatus] {
    let state = try dashboard.json("GET", "/api/serve/applications/")
    let apps = state["applications"] as? [String: [String: Any]] ?? [:]
    return apps.mapValues { app in
      let config = app["deployed_app_config"] as? [String: Any]
      let runtimeEnv = config?["runtime_env"] as? [String: Any]
      let env = runtimeEnv?["env_vars"] as? [String: Any]
      var status = ServeApplicationStatus(
        status: app["status"] as? String ?? "UNKNOWN", message: app["message"] as? String ?? "",
        replica: env?["MODELOPS_REPLICA"] as? String, owner: env?["MODELOPS_OWNER"] as? String)
      status.importPath = config?["import_path"] as? String
      status.workingDir = runtimeEnv?["working_dir"] as? String
      return status
    }
  }

  /// Adds (or replaces) `app` in the cluster's Serve config.
  public func deploy(_ app: ServeApplication) throws(RayError) {
    try update { apps in
      apps.removeAll { ($0["name"] as? String) == app.name }
      apps.append(app.config)
    }
  }

  /// Removes the applications named (absent ones are fine).
  public func remove(_ names: Set<String>) throws(RayError) {
    try update { apps in apps.removeAll { names.contains($0["name"] as? String ?? "") } }
  }

  private func update(_ change: (inout [[String: Any]]) -> Void) throws(RayError) {
    try writing.withLock { _ throws(RayError) in
      let state = try dashboard.json("GET", "/api/serve/applications/")
      let current = state["applications"] as? [String: [String: Any]] ?? [:]
      var apps = current.keys.sorted().compactMap { current[$0]?["deployed_app_config"] as? [String: Any] }
      let before = apps.count
      change(&apps)
      if apps.isEmpty, before == 0 { return }
      var config: [String: Any] = ["applications": apps]
      // Serve already running keeps its proxy; otherwise it starts with the agent's.
      if let http = state["http_options"] as? [String: Any],
        !(state["controller_info"] as? [String: Any] ?? [:]).isEmpty
      {
        config["http_options"] = ["host": http["host"] ?? proxyHost, "port": http["port"] ?? proxyPort]
        config["proxy_location"] = state["proxy_location"] ?? "HeadOnly"
      } else {
        config["http_options"] = ["host": Self.bindHost(for: proxyHost), "port": proxyPort]
        config["proxy_location"] = "HeadOnly"
      }
      _ = try dashboard.json("PUT", "/api/serve/applications/", config)
    }
  }
}
