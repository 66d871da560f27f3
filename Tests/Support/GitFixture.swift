import Foundation

/// A git repository in a temporary folder, driven by the git CLI as a user would.
public final class GitFixture {
  public let root: URL
  public var path: String { root.path }

  public init() throws {
    root = FileManager.default.temporaryDirectory.appendingPathComponent("modelops-git-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    try git("init", "-q", "-b", "main")
  }

  deinit { try? FileManager.default.removeItem(at: root) }

  /// Runs git in the repository; fails the test with git's message when git fails.
  @discardableResult
  public func git(_ arguments: String...) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"] + arguments
    process.currentDirectoryURL = root
    let out = Pipe()
    process.standardOutput = out
    process.standardError = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else { throw FixtureError("git \(arguments): \(text)") }
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  public func write(_ relative: String, _ text: String) throws {
    let url = root.appendingPathComponent(relative)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: url)
  }

  /// Stages everything and commits; returns the new commit's id.
  @discardableResult
  public func commit(_ message: String) throws -> String {
    try git("add", "-A")
    try git("commit", "-q", "-m", message)
    return try git("rev-parse", "HEAD")
  }
}

public struct FixtureError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

public let modelManifest = """
  apiVersion: modelops/v1
  kind: Model
  metadata: {name: fraud}
  spec:
    pipeline: fraud-train
    aliases: {production: {version: 1}}
  ---
  apiVersion: modelops/v1
  kind: Pipeline
  metadata: {name: fraud-train}
  spec:
    model: fraud
    workdir: training
    inputs: [{name: labels, dvc: data/labels.csv.dvc}]
    steps: [{name: train, run: python3 train.py}]

  """

/// `git http-backend` behind HTTP Basic auth on 127.0.0.1, serving the bare repositories under a
/// folder; stopped when released (and by itself after two minutes).
public final class GitHTTPServer {
  let process = Process()
  public let port: Int

  public init(projectRoot: String, token: String) throws {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
      "git_http_server.py")
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script.path, projectRoot, token]
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    var line = Data()
    while let byte = try out.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
      line.append(byte)
    }
    guard let port = Int(String(decoding: line, as: UTF8.self)) else {
      kill(process.processIdentifier, SIGKILL)
      throw FixtureError("the git HTTP server did not start")
    }
    self.port = port
  }

  deinit {
    // SIGKILL: a test runner may block SIGTERM, and children inherit the blocked mask.
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
  }
}
