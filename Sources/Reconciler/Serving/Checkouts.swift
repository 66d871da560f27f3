import Foundation
import GitSource

/// Checkouts of the commits replicas run from, under `STATE/checkouts/<commit>`: made once,
/// shared by every replica of the commit, removed when nothing runs in them any more.
struct Checkouts: Sendable {
  let repository: GitRepository
  let folder: URL

  /// The checkout of `commit`, made now if it does not exist (atomically: a staging folder moved
  /// into place, so a crash never leaves half a checkout under the commit's name).
  func folder(of commit: String) throws -> URL {
    let target = folder.appendingPathComponent(commit)
    let fm = FileManager.default
    if fm.fileExists(atPath: target.path) { return target }
    try fm.createDirectory(at: folder, withIntermediateDirectories: true)
    let staging = folder.appendingPathComponent(".incoming-\(UUID().uuidString)")
    try repository.materialize(try repository.resolve(commit), into: staging.path)
    do {
      try fm.moveItem(at: staging, to: target)
    } catch {
      try? fm.removeItem(at: staging)
      if !fm.fileExists(atPath: target.path) { throw error }
    }
    return target
  }

  /// Removes every checkout whose commit is not in `kept`; returns how many were removed.
  func prune(keeping kept: Set<String>) throws -> Int {
    let fm = FileManager.default
    var removed = 0
    for name in (try? fm.contentsOfDirectory(atPath: folder.path)) ?? []
    where !name.hasPrefix(".") && !kept.contains(name) {
      try fm.removeItem(at: folder.appendingPathComponent(name))
      removed += 1
    }
    return removed
  }
}
