import Drivers
import Foundation
import ModelOpsCore
import Synchronization

/// The end of a successful run: its output checked against the run contract and registered as a
/// new version of the model, with its metrics, profile and lineage.
enum RunRegistration {
  /// Registers `output/model/` with `metrics.json` and `profile.json`, signed by `signer` (the
  /// signature is stored with the version, in the same write); returns the version.
  static func register(_ plan: RunPlan, registry: any ModelRegistry, signer: VersionSigner?, finished: Date) throws
    -> Int
  {
    let output = URL(fileURLWithPath: plan.output)
    let model = output.appendingPathComponent("model")
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: model.path, isDirectory: &isFolder), isFolder.boolValue else {
      throw RunError("every step succeeded but the run wrote no $MODELOPS_OUTPUT_DIR/model/ folder")
    }
    let metrics = try Self.metrics(output.appendingPathComponent("metrics.json"))
    let profileURL = output.appendingPathComponent("profile.json")
    var profile: Data?
    if FileManager.default.fileExists(atPath: profileURL.path) {
      let data = try Data(contentsOf: profileURL)
      guard (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else {
        throw RunError("profile.json must be a JSON object")
      }
      profile = data
    }
    var lineage = plan.lineage
    lineage["finishedAt"] = ISO8601DateFormatter().string(from: finished)
    // The digest the registry records, by the same function: a file changed between the two
    // makes the signature fail, and the version is not served.
    let signature = try signer?.sign(
      model: plan.model, run: plan.runID, digest: "sha256:" + (try ArtifactDigest.of(folder: model)))
    return try registry.register(
      NewVersion(
        model: plan.model, artifact: model, metrics: metrics, profile: profile, lineage: lineage, createdAt: finished,
        signature: signature))
  }

  /// `metrics.json`: optional; when present, a flat object of numbers.
  static func metrics(_ url: URL) throws -> [String: Double] {
    guard FileManager.default.fileExists(atPath: url.path) else { return [:] }
    guard let object = try? JSONSerialization.jsonObject(with: try Data(contentsOf: url)) as? [String: Any] else {
      throw RunError("metrics.json must be a JSON object of numbers")
    }
    var metrics: [String: Double] = [:]
    for (key, value) in object {
      guard let number = value as? NSNumber, !(value is Bool), number.doubleValue.isFinite else {
        throw RunError("metrics.json: '\(key)' is not a number")
      }
      metrics[key] = number.doubleValue
    }
    return metrics
  }
}

/// The content digest of a host input (file or folder), as the registry digests artifacts.
enum HostInputDigest {
  static func of(_ path: String) throws -> String {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
      throw RunError("input \(path) does not exist")
    }
    if isFolder.boolValue { return try ArtifactDigest.of(folder: URL(fileURLWithPath: path)) }
    var hasher = SHA256()
    hasher.update(try Data(contentsOf: URL(fileURLWithPath: path)))
    return hasher.hexDigest()
  }

  /// Relative path, size and modification time of every file: cheap to read, and it changes
  /// whenever the content does in practice (the digest itself is read only then).
  static func fingerprint(_ path: String) -> String? {
    let fm = FileManager.default
    func line(_ file: String, _ shown: String) -> String? {
      guard let a = try? fm.attributesOfItem(atPath: file), let size = a[.size] as? NSNumber,
        let modified = a[.modificationDate] as? Date
      else { return nil }
      return "\(shown)\0\(size)\0\(modified.timeIntervalSince1970)\n"
    }
    var isFolder: ObjCBool = false
    guard fm.fileExists(atPath: path, isDirectory: &isFolder) else { return nil }
    guard isFolder.boolValue else { return line(path, "") }
    guard let walker = fm.enumerator(atPath: path) else { return nil }
    var lines: [String] = []
    while let relative = walker.nextObject() as? String {
      if let entry = line("\(path)/\(relative)", relative) { lines.append(entry) }
    }
    return lines.sorted().joined()
  }
}

/// Host-input digests remembered by fingerprint, so a poll cycle re-reads only inputs that changed.
final class HostInputCache: Sendable {
  private let entries = Mutex<[String: (fingerprint: String, digest: String)]>([:])

  func digest(_ path: String) throws -> String {
    guard let fingerprint = HostInputDigest.fingerprint(path) else { throw RunError("input \(path) does not exist") }
    if let known = entries.withLock({ $0[path] }), known.fingerprint == fingerprint { return known.digest }
    let digest = try HostInputDigest.of(path)
    entries.withLock { $0[path] = (fingerprint, digest) }
    return digest
  }
}
