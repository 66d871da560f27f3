import Foundation

/// Where model versions live: artifacts, metrics, lineage and aliases.
///
/// One implementation per registry the product ships (builtin now; MLflow next). Promotion
/// history is always kept in the agent's state, whatever the registry records itself.
public protocol ModelRegistry: Sendable {
  /// Stores the artifact folder and registers a new version; returns its number.
  func register(_ version: NewVersion) throws -> Int
  /// Points an alias at a version (nil: removes it); `cause` says which commit or policy moved it.
  func moveAlias(model: String, alias: String, to version: Int?, cause: String, at time: Date) throws
  /// Whether the stored artifact of a version still has the digest it was registered with.
  func verify(model: String, version: Int) throws -> Bool
  /// A local folder holding the version's artifact, read-only: what `MODELOPS_MODEL_PATH` names.
  func servingFolder(model: String, version: Int) throws -> URL
  /// The version's baseline profile (`profile.json` of its run), nil when the run wrote none.
  func profile(model: String, version: Int) throws -> Data?
  /// Removes the artifacts of versions beyond the newest `retain` that never held an alias and
  /// are not in `inUse` (served, or a rollback target); returns the versions collected.
  func collectGarbage(model: String, retain: Int, inUse: Set<Int>, at time: Date) throws -> [Int]
}

/// What a successful run hands to the registry.
public struct NewVersion: Sendable {
  public var model: String
  /// The run's `model/` folder.
  public var artifact: URL
  public var metrics: [String: Double]
  /// `profile.json`, the baseline for drift monitors, when the run wrote one.
  public var profile: Data?
  /// Commit, pipeline digest, params, input digests, run id, start and end times.
  public var lineage: [String: String]
  public var createdAt: Date
  /// The signature of the model's name and the artifact's digest (`VersionSigner`), stored with
  /// the version.
  public var signature: String?

  public init(
    model: String, artifact: URL, metrics: [String: Double], profile: Data?, lineage: [String: String], createdAt: Date,
    signature: String? = nil
  ) {
    self.signature = signature
    self.model = model
    self.artifact = artifact
    self.metrics = metrics
    self.profile = profile
    self.lineage = lineage
    self.createdAt = createdAt
  }
}

/// A registry failure, said so a person can act on it.
public struct RegistryError: Error, Sendable, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}
