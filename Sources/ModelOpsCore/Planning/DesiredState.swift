/// What one valid commit asks for: its manifests, resolved, plus what git tells about them.
public struct DesiredState: Sendable, Hashable {
  /// The commit the manifests were read at; nil for a plain folder.
  public var commit: String?
  public var manifests: ManifestSet
  /// Tree id (or content digest) of each pipeline's `workdir` at the commit: a change retrains.
  public var workdirDigests: [String: String]
  /// `md5` recorded in each DVC pointer, by pipeline and input name.
  public var dvcDigests: [String: [String: String]]
  /// Who signed the commit, as `source.verify` checked it (nil when not verified).
  public var signer: String?

  public init(
    commit: String?, manifests: ManifestSet, workdirDigests: [String: String] = [:],
    dvcDigests: [String: [String: String]] = [:]
  ) {
    self.commit = commit
    self.manifests = manifests
    self.workdirDigests = workdirDigests
    self.dvcDigests = dvcDigests
  }

  /// The digest that decides whether a pipeline's spec changed: its spec and its workdir's tree.
  public func specDigest(of pipeline: Pipeline) -> String {
    struct Key: Encodable {
      var spec: Pipeline.Spec
      var workdir: String?
    }
    return canonicalDigest(Key(spec: pipeline.spec, workdir: workdirDigests[pipeline.metadata.name]))
  }

  /// The digest of what a replica runs, apart from the model version (as a pod template hash):
  /// a change to it is a rollout; `replicas`, `strategy`, `analysis` and `rollback` are not.
  public static func templateDigest(of deployment: Deployment) -> String {
    struct Template: Encodable {
      var runtime: Deployment.Runtime?
      var command: [String]?
      var image: String?
      var env: [String: String]
      var port: Int
      var health: Deployment.Health
      var resources: Deployment.Resources
      /// Absent unless `runtime: ray` (so other templates keep their digests).
      var ray: RayServeOptions?
    }
    let s = deployment.spec
    let t = Template(
      runtime: s.runtime, command: s.command, image: s.image, env: s.env, port: s.port, health: s.health,
      resources: s.resources, ray: s.ray)
    return String(canonicalDigest(t).prefix(12))
  }
}
