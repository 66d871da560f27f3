import Drivers
import Foundation
import ModelOpsCore
import StateStore

/// `agent models --verify`: each version's stored artifact against its recorded digest, and,
/// under `signing`, its signature; one line per version, and whether any failed.
enum VersionVerification {
  /// The outcome of one version's checks.
  struct Line {
    var version: VersionRecord
    var ok: Bool
    var detail: String
  }

  static func check(_ versions: [VersionRecord], registry: any ModelRegistry, signer: VersionSigner?) -> [Line] {
    versions.map { version in
      if version.collectedAt != nil {
        return Line(version: version, ok: true, detail: "artifact garbage-collected (retain): nothing to check")
      }
      let digest = version.artifactDigest ?? "-"
      let intact: Bool
      do {
        intact = try registry.verify(model: version.model, version: version.version)
      } catch {
        return Line(version: version, ok: false, detail: "cannot read the artifact: \(error)")
      }
      guard intact else {
        return Line(version: version, ok: false, detail: "the artifact no longer matches its digest \(digest)")
      }
      guard let signer else { return Line(version: version, ok: true, detail: "artifact matches \(digest)") }
      switch signer.check(
        model: version.model, version: version.version, run: version.lineage["run"], digest: version.artifactDigest,
        signature: version.signature)
      {
      case .success(let signer?):
        return Line(version: version, ok: true, detail: "artifact matches \(digest); signed by \(signer)")
      case .success(nil):
        return Line(version: version, ok: true, detail: "artifact matches \(digest); not signed")
      case .failure(let refused):
        return Line(version: version, ok: false, detail: "\(refused)")
      }
    }
  }

  /// Prints the lines; fails (exit 1) when a version did not pass.
  static func report(_ lines: [Line]) throws {
    for line in lines {
      let mark = line.ok ? Terminal.standardOutput.green("ok") : Terminal.standardOutput.red("FAILED")
      print("\(line.version.model) v\(line.version.version)  \(mark)  \(line.detail)")
    }
    let failed = lines.filter { !$0.ok }.count
    if failed > 0 { throw CommandFailure("\(failed) of \(lines.count) version(s) failed verification") }
  }
}
