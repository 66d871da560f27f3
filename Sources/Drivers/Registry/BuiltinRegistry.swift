import Foundation
import ModelOpsCore
import StateStore

/// The registry built into the agent: artifacts content-addressed (SHA-256 of the `model/`
/// folder) under `STATE/registry/artifacts/<digest>/`, versions and aliases in the state store.
public struct BuiltinRegistry: ModelRegistry {
  public let store: StateStore
  public let root: URL

  public init(store: StateStore, folder: String) {
    self.store = store
    self.root = URL(fileURLWithPath: folder).appendingPathComponent("registry")
  }

  public func register(_ version: NewVersion) throws -> Int {
    try record(version, digest: try storeArtifact(version.artifact), number: nil)
  }

  /// Copies an artifact folder into the content-addressed store (once per content); its digest.
  public func storeArtifact(_ folder: URL) throws -> String {
    let digest = try ArtifactDigest.of(folder: folder)
    let target = artifactFolder(digest)
    let fm = FileManager.default
    if !fm.fileExists(atPath: target.path) {
      // Copy beside, then rename: a crash never leaves a half-written artifact under its digest.
      let staging = root.appendingPathComponent("artifacts/.incoming-\(UUID().uuidString)")
      try fm.createDirectory(at: staging.deletingLastPathComponent(), withIntermediateDirectories: true)
      try fm.copyItem(at: folder, to: staging)
      try fm.moveItem(at: staging, to: target)
    }
    return digest
  }

  /// Records a version of a stored artifact (numbered by the store, or by `number`) and its profile.
  public func record(_ version: NewVersion, digest: String, number: Int?) throws -> Int {
    let number = try store.registerVersion(
      model: version.model, artifactDigest: "sha256:\(digest)", metrics: version.metrics, lineage: version.lineage,
      at: version.createdAt, number: number, signature: version.signature)
    if let profile = version.profile {
      let file = root.appendingPathComponent("profiles/\(version.model)/v\(number).json")
      try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
      try profile.write(to: file)
    }
    return number
  }

  public func moveAlias(model: String, alias: String, to version: Int?, cause: String, at time: Date) throws {
    try store.moveAlias(model: model, alias: alias, to: version, cause: cause, at: time)
  }

  public func verify(model: String, version: Int) throws -> Bool {
    let digest = try recordedDigest(model: model, version: version)
    return try ArtifactDigest.of(folder: artifactFolder(digest)) == digest
  }

  public func profile(model: String, version: Int) throws -> Data? {
    let file = root.appendingPathComponent("profiles/\(model)/v\(version).json")
    guard FileManager.default.fileExists(atPath: file.path) else { return nil }
    return try Data(contentsOf: file)
  }

  public func servingFolder(model: String, version: Int) throws -> URL {
    let folder = artifactFolder(try recordedDigest(model: model, version: version))
    try ArtifactDigest.makeReadOnly(folder)
    return folder
  }

  private func recordedDigest(model: String, version: Int) throws -> String {
    guard let record = try store.versions(model: model).first(where: { $0.version == version }),
      let recorded = record.artifactDigest, recorded.hasPrefix("sha256:")
    else { throw RegistryError("model \(model) has no version \(version)") }
    if record.collectedAt != nil {
      throw RegistryError("the artifact of \(model) v\(version) was garbage-collected (spec.retain)")
    }
    return String(recorded.dropFirst("sha256:".count))
  }

  public func collectGarbage(model: String, retain: Int, inUse: Set<Int>, at time: Date) throws -> [Int] {
    // Runs after every apply: a model within its `retain` costs one indexed read.
    let versions = try store.versions(model: model).sorted { $0.version > $1.version }
    guard versions.count > retain else { return [] }
    let aliased = try store.everAliased(model: model)
    let doomed = versions.dropFirst(retain).filter {
      $0.collectedAt == nil && !aliased.contains($0.version) && !inUse.contains($0.version)
    }
    guard !doomed.isEmpty else { return [] }
    let all = try store.versions()
    // An artifact shared with a version that stays (identical content) stays too.
    let doomedKeys = Set(doomed.map { "\($0.model)#\($0.version)" })
    let kept = Set(
      all.filter { $0.collectedAt == nil && !doomedKeys.contains("\($0.model)#\($0.version)") }.compactMap(
        \.artifactDigest))
    for version in doomed {
      if let digest = version.artifactDigest, digest.hasPrefix("sha256:"), !kept.contains(digest) {
        let folder = artifactFolder(String(digest.dropFirst("sha256:".count)))
        try ArtifactDigest.makeWritable(folder)
        try? FileManager.default.removeItem(at: folder)
      }
      try store.markCollected(model: model, version: version.version, at: time)
    }
    return doomed.map(\.version).sorted()
  }

  /// Where a version's artifact is stored: what `MODELOPS_MODEL_PATH` points to.
  public func artifactFolder(_ digest: String) -> URL { root.appendingPathComponent("artifacts/\(digest)") }
}

/// The content digest of a folder: SHA-256 over each regular file's relative path, executable
/// bit and bytes, in byte order of paths. Symlinks and other special files are refused.
public enum ArtifactDigest {
  public static func of(folder: URL) throws -> String {
    let fm = FileManager.default
    var isFolder: ObjCBool = false
    guard fm.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
      throw RegistryError("the artifact \(folder.path) is not a folder")
    }
    var files: [String] = []
    guard let walker = fm.enumerator(atPath: folder.path) else { throw RegistryError("cannot read \(folder.path)") }
    while let relative = walker.nextObject() as? String {
      let attributes = try fm.attributesOfItem(atPath: folder.appendingPathComponent(relative).path)
      switch attributes[.type] as? FileAttributeType {
      case .typeRegular?: files.append(relative)
      case .typeDirectory?: continue
      default: throw RegistryError("the artifact holds \(relative), which is not a regular file or folder")
      }
    }
    var hasher = SHA256()
    for relative in files.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
      let url = folder.appendingPathComponent(relative)
      let executable = fm.isExecutableFile(atPath: url.path)
      let data = try Data(contentsOf: url)
      hasher.update("\(relative)\0\(executable ? "x" : "-")\0\(data.count)\0")
      hasher.update(data)
    }
    return hasher.hexDigest()
  }

  /// Takes write permission away from everything in the folder (a served artifact is read-only).
  public static func makeReadOnly(_ folder: URL) throws { try setWritable(folder, false) }

  /// Gives the owner write permission back (before the folder is removed).
  public static func makeWritable(_ folder: URL) throws { try setWritable(folder, true) }

  private static func setWritable(_ folder: URL, _ writable: Bool) throws {
    guard FileManager.default.fileExists(atPath: folder.path) else { return }
    let fm = FileManager.default
    var paths = [folder.path]
    if let walker = fm.enumerator(atPath: folder.path) {
      while let relative = walker.nextObject() as? String { paths.append(folder.appendingPathComponent(relative).path) }
    }
    for path in paths {
      let attributes = try fm.attributesOfItem(atPath: path)
      guard let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue else { continue }
      let next = writable ? mode | 0o200 : mode & ~0o222
      if next != mode { try fm.setAttributes([.posixPermissions: next], ofItemAtPath: path) }
    }
  }
}
