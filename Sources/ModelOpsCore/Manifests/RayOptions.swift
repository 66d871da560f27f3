/// What Ray is asked for: a `runtime: ray` step's job (`entrypoint_num_cpus`, `entrypoint_num_gpus`,
/// `entrypoint_memory`), or each replica of a Serve deployment (`ray_actor_options`).
public struct RayResources: Sendable, Hashable, Encodable {
  public var cpus: Double?
  public var gpus: Double?
  public var memory: ByteSize?

  public init(cpus: Double? = nil, gpus: Double? = nil, memory: ByteSize? = nil) {
    self.cpus = cpus
    self.gpus = gpus
    self.memory = memory
  }
}

/// `spec.ray` of a Deployment on Ray Serve: each revision is one Serve application built from
/// `importPath` in the commit's code.
public struct RayServeOptions: Sendable, Hashable, Encodable {
  /// `module:attribute` of a bound Serve application (`serving.ray_app:app`).
  public var importPath: String
  /// The Serve deployment of the application that `replicas`, `autoscaling` and `actorOptions`
  /// apply to (Serve names the deployments of an application; nil: none is overridden).
  public var deployment: String?
  /// `num_replicas` of that deployment, per revision.
  public var replicas: Int?
  public var autoscaling: Autoscaling?
  /// `ray_actor_options` of each replica of that deployment.
  public var actorOptions: RayResources?

  public struct Autoscaling: Sendable, Hashable, Encodable {
    public var min: Int
    public var max: Int

    public init(min: Int, max: Int) {
      self.min = min
      self.max = max
    }
  }

  public init(importPath: String) { self.importPath = importPath }
}
