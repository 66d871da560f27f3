import Drivers
import Foundation
import GitSource
import ModelOpsCore
import ModelOpsTesting
import StateStore
import Testing

@testable import Reconciler

/// A repository with manifests, a state folder and a reconciler wired as `agent apply` wires them.
final class Harness {
  let repo: GitFixture
  let state: String
  let store: StateStore
  let registry: BuiltinRegistry
  let reconciler: Reconciler

  init(_ files: [String: String], docker: DockerRuntime? = nil, maxConcurrentRuns: Int = 2) throws {
    repo = try GitFixture()
    for (path, text) in files { try repo.write(path, text) }
    try repo.commit("initial")
    state = repo.path + "/.state"
    store = try StateStore(folder: state)
    registry = BuiltinRegistry(store: store, folder: state)
    var runner = TrainingRunner(
      store: store, registry: registry, repository: try GitRepository.open(repo.path), stateFolder: state)
    runner.backoff = 0.05
    runner.docker = docker
    runner.maxConcurrentRuns = maxConcurrentRuns
    reconciler = Reconciler(store: store, registry: registry, runner: runner)
  }

  func desired() throws -> DesiredState {
    let git = try GitRepository.open(repo.path)
    let commit = try git.resolve("HEAD")
    let reader = ManifestReader(path: "manifests")
    let result = reader.load(git.tree(at: commit))
    try #require(result.isValid, "\(result.diagnostics)")
    return reader.desiredState(result, tree: git.tree(at: commit), commit: commit)
  }

  func apply() throws -> ApplyReport { try reconciler.apply(try desired()) }

  func log(of report: ApplyReport) throws -> String {
    let run = try #require(try store.runs().last)
    return try String(contentsOfFile: "\(state)/runs/\(run.id)/run.log", encoding: .utf8)
  }
}

/// A model with a gated policy alias and the pipeline that trains it, with the given steps.
func stack(steps: String, gate: Double = 0.8, retries: Int = 0, extra: String = "") -> String {
  """
  apiVersion: modelops/v1
  kind: Model
  metadata: {name: clf}
  spec:
    pipeline: clf-train
    aliases:
      staging: {policy: latest-passing, gates: [{metric: accuracy, min: \(gate)}]}
  ---
  apiVersion: modelops/v1
  kind: Pipeline
  metadata: {name: clf-train}
  spec:
    model: clf
    workdir: training
    params: {max-iter: "200"}
    inputs: [{name: labels, dvc: data/labels.csv.dvc}]
    retries: \(retries)
    steps:
  \(steps)
  \(extra)
  """
}

/// A pipeline step running a shell script (a literal block, so any text is fine), indented for `stack`.
func step(_ name: String, _ script: String, extra: String = "") -> String {
  var out = "    - name: \(name)\n      run: |\n"
  for line in script.split(separator: "\n") { out += "        \(line)\n" }
  if !extra.isEmpty { out += "      \(extra)\n" }
  return out
}

/// A step writing a model folder and metrics.
let goodStep = step(
  "train",
  """
  mkdir -p "$MODELOPS_OUTPUT_DIR/model"
  echo '{"w": 1}' > "$MODELOPS_OUTPUT_DIR/model/w.json"
  echo '{"accuracy": 0.9}' > "$MODELOPS_OUTPUT_DIR/metrics.json"
  """)

let baseFiles = [
  "training/README": "training code lives here\n", "data/labels.csv.dvc": "outs:\n- md5: abc123\n  path: labels.csv\n",
]

@Suite struct ReconcilerTests {
  @Test func aFirstApplyTrainsRegistersAndPromotesAndASecondChangesNothing() throws {
    let h = try Harness(baseFiles.merging(["manifests/all.yaml": stack(steps: goodStep)]) { $1 })
    let first = try h.apply()
    #expect(!first.failed)
    #expect(first.executed.map(\.action.verb) == [.train, .promote])
    let versions = try h.store.versions(model: "clf")
    #expect(versions.map(\.version) == [1])
    #expect(versions.first?.aliases == ["staging"])
    #expect(versions.first?.metrics == ["accuracy": 0.9])
    #expect(versions.first?.inputs == ["labels": "abc123"])
    let second = try h.apply()
    #expect(second.executed.isEmpty)
    #expect(try h.store.versions(model: "clf").count == 1)
    #expect(try h.store.observe().appliedCommit == (try h.desired().commit))
  }

  /// An agent killed while it prepared a run (folder made, run not yet recorded) leaves a folder
  /// that no run owns: the next start removes it, and keeps every recorded run's folder.
  @Test func aRunFolderLeftByAStoppedAgentBeforeItsRunWasRecordedIsRemovedAtStart() throws {
    let h = try Harness(baseFiles.merging(["manifests/all.yaml": stack(steps: goodStep)]) { $1 })
    _ = try h.apply()
    let recorded = try #require(try h.store.runs().first).id
    let stray = "\(h.state)/runs/clf-train-20261203-151911-b5eb"
    try FileManager.default.createDirectory(atPath: stray + "/checkout", withIntermediateDirectories: true)
    try h.reconciler.start(try h.desired())
    #expect(!FileManager.default.fileExists(atPath: stray))
    #expect(FileManager.default.fileExists(atPath: "\(h.state)/runs/\(recorded)/run.log"))
  }

  @Test func runsBeyondMaxConcurrentRunsQueueAndStartWhenOneEnds() throws {
    let gate = FileManager.default.temporaryDirectory.appendingPathComponent("gate-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: gate) }
    let waiting = step(
      "train",
      """
      while [ ! -e \(gate) ]; do sleep 0.05; done
      mkdir -p "$MODELOPS_OUTPUT_DIR/model"
      echo '{"w": 1}' > "$MODELOPS_OUTPUT_DIR/model/w.json"
      echo '{"accuracy": 0.9}' > "$MODELOPS_OUTPUT_DIR/metrics.json"
      """)
    let manifests =
      stack(steps: waiting) + "\n---\n" + stack(steps: waiting).replacingOccurrences(of: "clf", with: "other")
    let h = try Harness(baseFiles.merging(["manifests/all.yaml": manifests]) { $1 }, maxConcurrentRuns: 1)
    let desired = try h.desired()
    try h.reconciler.start(desired)
    // One pass: one run starts and returns at once; the other pipeline's run queues.
    let pass = try h.reconciler.reconcile(desired)
    #expect(try h.store.activeRuns().count == 1)
    let queued = pass.executed.filter { $0.action.verb == .train && $0.waiting }
    #expect(queued.count == 1)
    #expect(queued.first?.detail.contains("queued: 1 run(s) in progress") == true, "\(pass.executed.map(\.detail))")
    // Another pass while the first run goes on changes nothing.
    _ = try h.reconciler.reconcile(desired)
    #expect(try h.store.runs().count == 1)
    #expect(FileManager.default.createFile(atPath: gate, contents: nil))
    let report = try h.reconciler.apply(desired)
    #expect(!report.failed, "\(report.executed.map(\.error))")
    let runs = try h.store.runs().sorted { ($0.startedAt ?? .distantPast) < ($1.startedAt ?? .distantPast) }
    #expect(runs.map(\.status) == ["succeeded", "succeeded"])
    #expect(Set(runs.map(\.pipeline)) == ["clf-train", "other-train"])
    // Never two at once: the queued run started after the first ended.
    if runs.count == 2, let ended = runs[0].finishedAt, let started = runs[1].startedAt {
      #expect(started >= ended)
    }
  }

  @Test func aRunSeesTheContractEnvironmentButNotTheAgentsOwn() throws {
    setenv("MODELOPS_TEST_AGENT_SECRET", "do-not-leak", 1)
    let script = step(
      "env",
      """
      mkdir -p "$MODELOPS_OUTPUT_DIR/model"
      env | sort > "$MODELOPS_OUTPUT_DIR/model/env.txt"
      pwd > "$MODELOPS_OUTPUT_DIR/model/pwd.txt"
      cat "$MODELOPS_PARAMS" > "$MODELOPS_OUTPUT_DIR/model/params.json"
      """)
    let h = try Harness(baseFiles.merging(["manifests/all.yaml": stack(steps: script, gate: 0)]) { $1 })
    let report = try h.apply()
    #expect(!report.failed, "\(report.executed.map(\.error))")
    let run = try #require(try h.store.runs().first)
    let model = "\(h.state)/runs/\(run.id)/output/model"
    let env = try String(contentsOfFile: model + "/env.txt", encoding: .utf8)
    #expect(env.contains("MODELOPS_RUN_ID=\(run.id)\n"))
    #expect(env.contains("MODELOPS_PIPELINE=clf-train\n"))
    #expect(env.contains("MODELOPS_MODEL=clf\n"))
    #expect(env.contains("MODELOPS_COMMIT=\(try h.desired().commit ?? "")\n"))
    #expect(env.contains("MODELOPS_PARAM_MAX_ITER=200\n"))
    #expect(env.contains("MODELOPS_INPUT_LABELS=\(h.state)/runs/\(run.id)/checkout/data/labels.csv\n"))
    #expect(!env.contains("do-not-leak"))
    #expect(try String(contentsOfFile: model + "/pwd.txt", encoding: .utf8).hasSuffix("/checkout/training\n"))
    #expect(try String(contentsOfFile: model + "/params.json", encoding: .utf8) == #"{"max-iter":"200"}"#)
  }

  @Test func aFailingStepIsRetriedThenTheRunFailsAndNothingIsRegistered() throws {
    let flaky = step("flaky", "echo trying\nexit 3")
    let h = try Harness(baseFiles.merging(["manifests/all.yaml": stack(steps: flaky, retries: 2)]) { $1 })
    let report = try h.apply()
    #expect(report.failed)
    #expect(report.executed.first?.error?.contains("step 'flaky' failed: exit status 3") == true)
    #expect(try h.store.versions().isEmpty)
    #expect(try h.store.runs().map(\.status) == ["failed"])
    let log = try h.log(of: report)
    #expect(log.components(separatedBy: "trying").count - 1 == 3)
    #expect(log.contains("==> step flaky (attempt 3 of 3)"))
    #expect(try h.store.events().map(\.kind) == ["train-failed"])
  }

  @Test func aStepTimeoutStopsEverythingTheStepStarted() throws {
    // A duration no other process on this (shared) machine runs: pgrep then sees only ours.
    let marker = "sleep 60.\(Int.random(in: 100_000...999_999))"
    let hang = step("hang", "\(marker) &\n\(marker)", extra: "timeout: 1s")
    let h = try Harness(baseFiles.merging(["manifests/all.yaml": stack(steps: hang)]) { $1 })
    let report = try h.apply()
    #expect(report.executed.first?.error?.contains("step 'hang' failed: timed out") == true)
    // The background `sleep` was in the step's process group: nothing of the step survives.
    #expect(try Self.noProcessRuns(marker))
  }

  /// Whether no process runs exactly `command` (pgrep finds none).
  static func noProcessRuns(_ command: String) throws -> Bool {
    let pgrep = Process()
    pgrep.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
    pgrep.arguments = ["-f", "^\(command)$"]
    pgrep.standardOutput = FileHandle.nullDevice
    try pgrep.run()
    pgrep.waitUntilExit()
    return pgrep.terminationStatus == 1
  }

  @Test func aStepThatIgnoresSIGTERMIsKilledAfterItsGrace() throws {
    let marker = "sleep 60.\(Int.random(in: 100_000...999_999))"
    // The shell ignores SIGTERM and so does the sleep it starts: only the later SIGKILL stops them.
    let stubborn = step("stubborn", "trap '' TERM\n\(marker)", extra: "timeout: 1s")
    let h = try Harness(baseFiles.merging(["manifests/all.yaml": stack(steps: stubborn)]) { $1 })
    let report = try h.apply()
    #expect(report.executed.first?.error?.contains("step 'stubborn' failed: timed out") == true)
    #expect(try Self.noProcessRuns(marker))
  }

  @Test(arguments: [
    ("echo ok", "every step succeeded but the run wrote no $MODELOPS_OUTPUT_DIR/model/ folder"),
    (
      "mkdir -p \"$MODELOPS_OUTPUT_DIR/model\"\necho '{\"accuracy\": \"high\"}' > \"$MODELOPS_OUTPUT_DIR/metrics.json\"",
      "metrics.json: 'accuracy' is not a number"
    ),
  ])
  func aRunWhoseOutputBreaksTheContractFails(script: String, message: String) throws {
    let h = try Harness(baseFiles.merging(["manifests/all.yaml": stack(steps: step("train", script))]) { $1 })
    let report = try h.apply()
    #expect(report.failed)
    #expect(report.executed.first?.error?.contains(message) == true, "\(report.executed.first?.error ?? "")")
    #expect(try h.store.versions().isEmpty)
  }

  @Test func aVersionFailingTheGatesIsRegisteredButNotPromoted() throws {
    let h = try Harness(baseFiles.merging(["manifests/all.yaml": stack(steps: goodStep, gate: 0.95)]) { $1 })
    let report = try h.apply()
    #expect(!report.failed)
    #expect(report.executed.map(\.action.verb) == [.train])
    #expect(try h.store.versions(model: "clf").map(\.aliases) == [[]])
  }

  @Test func identicalArtifactsAreStoredOnceAndTamperingIsDetected() throws {
    let h = try Harness(baseFiles.merging(["manifests/all.yaml": stack(steps: goodStep)]) { $1 })
    let folder = URL(fileURLWithPath: h.repo.path + "/artifact")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try Data("weights".utf8).write(to: folder.appendingPathComponent("w.bin"))
    let new = NewVersion(model: "m", artifact: folder, metrics: [:], profile: nil, lineage: [:], createdAt: Date())
    #expect(try h.registry.register(new) == 1)
    #expect(try h.registry.register(new) == 2)
    let stored = try FileManager.default.contentsOfDirectory(atPath: h.state + "/registry/artifacts")
    #expect(stored.count == 1)
    #expect(try h.registry.verify(model: "m", version: 2))
    try Data("tampered".utf8).write(to: URL(fileURLWithPath: "\(h.state)/registry/artifacts/\(stored[0])/w.bin"))
    #expect(try !h.registry.verify(model: "m", version: 2))
  }

  @Test func aChangedHostInputRetrains() throws {
    let h = try Harness(["README.md": "host inputs\n"])
    let data = h.repo.path + "/../input-\(UUID().uuidString).csv"
    defer { try? FileManager.default.removeItem(atPath: data) }
    try Data("a,b\n1,2\n".utf8).write(to: URL(fileURLWithPath: data))
    try h.repo.write(
      "manifests/all.yaml",
      stack(steps: goodStep).replacingOccurrences(
        of: "[{name: labels, dvc: data/labels.csv.dvc}]", with: "[{name: rows, path: \(data)}]"))
    try h.repo.write("training/README", "x\n")
    try h.repo.commit("host input")
    #expect(try h.apply().executed.map(\.action.verb) == [.train, .promote])
    #expect(try h.apply().executed.isEmpty)
    try Data("a,b\n1,2\n3,4\n".utf8).write(to: URL(fileURLWithPath: data))
    let report = try h.apply()
    #expect(report.executed.first?.action.reason == "input 'rows' changed")
    #expect(try h.store.versions(model: "clf").count == 2)
  }
}

@Suite struct HostInputCacheTests {
  @Test func theCachedDigestFollowsRealChangesAndMatchesAFreshOne() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("modelops-input-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appendingPathComponent("rows.csv")
    try Data("a\n1\n".utf8).write(to: file)
    let cache = HostInputCache()
    let first = try cache.digest(folder.path)
    // Nothing changed: the same fingerprint, the same digest.
    #expect(HostInputDigest.fingerprint(folder.path) == HostInputDigest.fingerprint(folder.path))
    #expect(try cache.digest(folder.path) == first)
    // A real change (new size) is read again.
    try Data("a\n1\n2\n".utf8).write(to: file)
    let second = try cache.digest(folder.path)
    #expect(second != first)
    #expect(second == (try HostInputDigest.of(folder.path)))
    #expect(throws: RunError.self) { try cache.digest(folder.path + "/missing") }
  }
}
