import Foundation
import GitSource
import ModelOpsCore

/// `modelops-bench cycle REMOTE_URL STATE_DIR PATH [CYCLES [WORK_REPO FILE]]`: the cost of the
/// agent's poll cycle.
///
/// The first cycle clones, parses and plans; each later cycle fetches (nothing new), resolves the
/// branch and asks the reader for the manifests, which must come from its cache. With a work
/// repository (the remote's source) and one of its manifest files, each of CYCLES more commits
/// changes that file and is pushed; the long-lived reader loads it (re-parsing that file only)
/// and a fresh reader loads the same commit in full, for comparison. Prints seconds per phase and
/// parse counts, as `name value` lines for bench/run.
func cycle(url: String, state: String, path: String, cycles: Int, change: OneFileChange?) throws {
  let mirror = GitMirror.folder(for: url, under: state)
  let reader = ManifestReader(path: path)
  // The agent keeps the last desired state while it reads the next: so does the bench (for the
  // long-lived reader), so that the patched set is copied here as it is there.
  var held: [DesiredState] = []
  let longLived = reader
  func once(_ reader: ManifestReader) throws -> (fetch: Double, load: Double, plan: Double, actions: Int) {
    let t0 = Date()
    let repository = try GitMirror.sync(url: url, into: mirror, credentials: .none)
    let commit = try repository.resolve("main")
    let t1 = Date()
    let tree = repository.tree(at: commit)
    let result = reader.load(tree)
    guard result.isValid else { throw BenchError("invalid manifests: \(result.diagnostics.prefix(3))") }
    let desired = reader.desiredState(result, tree: tree, commit: commit)
    let t2 = Date()
    if reader === longLived {
      held.removeAll()
      held.append(desired)
    }
    let plan = Planner.plan(desired: desired, observed: ObservedState(), now: t2)
    let t3 = Date()
    return (t1.timeIntervalSince(t0), t2.timeIntervalSince(t1), t3.timeIntervalSince(t2), plan.actions.count)
  }
  func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
  let first = try once(reader)
  print(
    "first_fetch_s \(first.fetch)\nfirst_load_s \(first.load)\nfirst_plan_s \(first.plan)\nactions \(first.actions)")
  var fetches: [Double] = []
  var loads: [Double] = []
  for _ in 0..<cycles {
    let next = try once(reader)
    fetches.append(next.fetch)
    loads.append(next.load)
  }
  print("nochange_fetch_s \(median(fetches))\nnochange_load_s \(median(loads))\nparses \(reader.parses)")
  guard let change else { return }
  var changed: [(fetch: Double, load: Double)] = []
  var full: [Double] = []
  var parsed: [Int] = []
  for number in 1...max(cycles, 1) {
    try change.commitAndPush(number, to: url)
    let next = try once(reader)
    changed.append((next.fetch, next.load))
    parsed.append(reader.lastLoad.parsed)
    full.append(try once(ManifestReader(path: path)).load)
  }
  print(
    """
    change_fetch_s \(median(changed.map(\.fetch)))
    change_load_s \(median(changed.map(\.load)))
    change_files_parsed \(parsed.max() ?? 0)
    full_load_s \(median(full))
    """)
}

/// A commit that changes one manifest file (its first `retain:` value), pushed to the remote.
struct OneFileChange {
  var repository: String
  /// The file, relative to the repository.
  var file: String

  func commitAndPush(_ number: Int, to url: String) throws {
    let path = repository + "/" + file
    let text = try String(contentsOfFile: path, encoding: .utf8)
    guard let range = text.range(of: #"retain: [0-9]+"#, options: .regularExpression) else {
      throw BenchError("\(file) has no 'retain:' to change")
    }
    try text.replacingCharacters(in: range, with: "retain: \(20 + number)").write(
      toFile: path, atomically: true, encoding: .utf8)
    try git("commit", "-q", "-a", "-m", "bench: change \(file) (\(number))")
    try git("push", "-q", url, "main")
  }

  private func git(_ arguments: String...) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments =
      ["git", "-C", repository, "-c", "user.name=bench", "-c", "user.email=bench@localhost"] + arguments
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw BenchError("git \(arguments.joined(separator: " ")) failed") }
  }
}
