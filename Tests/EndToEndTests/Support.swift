import Drivers
import Foundation
import Testing

/// The repository's root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent()

/// What a finished process printed and how it exited.
struct Outcome {
  var status: Int32
  var stdout: String
  var stderr: String
}

/// The `agent` binary built beside the test bundle (the test target depends on it).
func agentBinary() throws -> URL {
  let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
    "agent")
  let candidates = [
    ProcessInfo.processInfo.environment["MODELOPS_AGENT_BINARY"].map { URL(fileURLWithPath: $0) },
    beside,
    repositoryRoot.appendingPathComponent(".build/debug/agent"),
  ].compactMap { $0 }
  guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
    throw TestFailure("agent binary not found in \(candidates.map(\.path))")
  }
  return found
}

struct TestFailure: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// Runs a program to completion with a time limit, collecting its output.
func run(
  _ executable: URL, _ arguments: [String], in directory: URL = repositoryRoot, environment: [String: String] = [:],
  timeout: TimeInterval = 60
) throws -> Outcome {
  let process = Process()
  process.executableURL = executable
  process.arguments = arguments
  process.currentDirectoryURL = directory
  process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  let out = Pipe()
  let err = Pipe()
  process.standardOutput = out
  process.standardError = err
  process.standardInput = FileHandle.nullDevice
  try process.run()
  // Read both pipes while the process runs, so a full pipe cannot block it.
  let group = DispatchGroup()
  nonisolated(unsafe) var outData = Data()
  nonisolated(unsafe) var errData = Data()
  DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
  DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
  let deadline = Date().addingTimeInterval(timeout)
  while process.isRunning, Date() < deadline { usleep(10_000) }
  if process.isRunning {
    // SIGKILL: a test runner may block SIGTERM, and children inherit the blocked mask.
    kill(process.processIdentifier, SIGKILL)
    throw TestFailure("\(executable.lastPathComponent) \(arguments) did not finish within \(timeout) s")
  }
  group.wait()
  process.waitUntilExit()
  return Outcome(
    status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs the agent binary.
func agent(_ arguments: String..., in directory: URL = repositoryRoot, environment: [String: String] = [:]) throws
  -> Outcome
{
  try run(agentBinary(), arguments, in: directory, environment: environment)
}

/// The git CLI in `folder`, as a test user; throws with git's stderr when it fails.
@discardableResult
func gitCommand(_ arguments: [String], in folder: URL, environment: [String: String] = [:]) throws -> Outcome {
  let outcome = try run(
    URL(fileURLWithPath: "/usr/bin/env"),
    ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"] + arguments, in: folder,
    environment: environment)
  guard outcome.status == 0 else { throw TestFailure("git \(arguments): \(outcome.stderr)") }
  return outcome
}

/// Commits everything in the work tree at `folder`.
func commitAll(_ message: String, in folder: URL) throws {
  try gitCommand(["add", "-A"], in: folder)
  try gitCommand(["commit", "-q", "-m", message], in: folder)
}

/// A temporary folder of files, removed when released.
final class Scratch {
  let url: URL

  init() throws {
    url = FileManager.default.temporaryDirectory.appendingPathComponent("modelops-e2e-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  deinit { try? FileManager.default.removeItem(at: url) }

  func write(_ relative: String, _ text: String) throws {
    let file = url.appendingPathComponent(relative)
    try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: file)
  }
}

/// One of the bundled examples as a git repository (the git CLI, as a user would), with a state
/// folder beside it; removed when released.
final class ExampleRepository {
  let scratch: Scratch
  var path: String { scratch.url.path }
  var state: String { scratch.url.path + "/.state" }

  init(example: String) throws {
    scratch = try Scratch()
    let source = repositoryRoot.appendingPathComponent("examples/\(example)")
    for item in try FileManager.default.contentsOfDirectory(atPath: source.path) where item != "README.md" {
      try FileManager.default.copyItem(
        at: source.appendingPathComponent(item), to: scratch.url.appendingPathComponent(item))
    }
    try scratch.write("training/.keep", "")
    try scratch.write(".gitignore", ".state/\n")
    try git("init", "-q", "-b", "main")
    try commit("\(example)")
  }

  /// Replicas outlive the agent that started them (by design): a test's are killed with it.
  deinit { Self.killProcesses(under: state) }

  /// Process ids whose working folder is inside `folder` (replicas run in checkouts there), the
  /// detached router (`STATE/router`) left out unless asked for.
  static func processes(under folder: String, router: Bool = false) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> Int32? in
      guard let pid = Int32(entry),
        let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/cwd"),
        cwd.hasPrefix(folder + "/"), router || cwd != folder + "/router"
      else { return nil }
      return pid
    }
  }

  /// The detached router's process, if one runs for the state folder.
  static func router(of folder: String) -> Int32? {
    Set(processes(under: folder, router: true)).subtracting(processes(under: folder)).first
  }

  static func killProcesses(under folder: String) {
    for pid in processes(under: folder, router: true) { kill(-pid, SIGKILL) }
  }

  @discardableResult
  func git(_ arguments: String...) throws -> Outcome { try gitCommand(arguments, in: scratch.url) }

  func commit(_ message: String) throws { try commitAll(message, in: scratch.url) }

  /// Moves the quickstart deployment's stable endpoint off 9000 (tests run side by side); commits.
  @discardableResult
  func listenOnFreePort(canarySteps: String? = nil) throws -> Int {
    let port = try FreePort.pick()
    try edit("manifests/deploy/iris-api.yaml") { text in
      // The previous version's replicas stop 1 s after a switch (30 s by default): tests count them.
      var text = text.replacingOccurrences(of: "127.0.0.1:9000", with: "127.0.0.1:\(port)")
        .replacingOccurrences(of: "    auto: true\n", with: "    auto: true\n    scaleDownDelay: 1s\n")
      if let canarySteps {
        text = text.replacingOccurrences(
          of: "      - {weight: 25, pause: 10s}\n      - {weight: 50, pause: 10s}\n", with: canarySteps)
      }
      return text
    }
    try commit("listen on \(port)")
    return port
  }

  /// An agent.yaml (beside the repository, ignored by git) reading this repository directly every
  /// second, its API on a free port; returns the file and the port.
  func localAgentConfig(token: String? = nil) throws -> (config: String, apiPort: Int) {
    let port = try FreePort.pick()
    let tokenField = token.map { ", token: \($0)" } ?? ""
    try scratch.write(
      "agent.yaml",
      """
      source: {url: \(path), branch: main, path: manifests, interval: 1s}
      state: \(state)
      api: {listen: 127.0.0.1:\(port)\(tokenField)}
      """)
    return (path + "/agent.yaml", port)
  }

  func edit(_ relative: String, _ change: (String) -> String) throws {
    let url = scratch.url.appendingPathComponent(relative)
    try change(try String(contentsOf: url, encoding: .utf8)).write(to: url, atomically: true, encoding: .utf8)
  }
}

/// Table output with each run of spaces made one, to match a row's cells in order.
func squeezed(_ text: String) -> String { text.replacing(#/ +/#, with: " ") }
