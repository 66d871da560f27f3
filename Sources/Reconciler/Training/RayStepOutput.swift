import Drivers
import Foundation
import ModelOpsCore
import StateStore
import Synchronization

/// The token a run's Ray jobs present to send and fetch its output (`STATE/runs/<id>/ray.token`,
/// readable by the agent only), and the marker of each attempt whose output arrived.
enum RayOutputToken {
  static func file(in folder: URL) -> URL { folder.appendingPathComponent("ray.token") }

  static func create(in folder: URL) throws {
    var bytes = [UInt8](repeating: 0, count: 32)
    for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
    let token = bytes.map { String(format: "%02x", $0) }.joined()
    let path = file(in: folder).path
    guard
      FileManager.default.createFile(atPath: path, contents: Data(token.utf8), attributes: [.posixPermissions: 0o600])
    else { throw RunError("cannot write \(path)") }
  }

  static func read(in folder: URL) throws -> String {
    do { return try String(contentsOf: file(in: folder), encoding: .utf8) } catch {
      throw RunError("the run's Ray token is missing (\(file(in: folder).path))")
    }
  }

  static func receivedMarker(in folder: URL, step: Int, attempt: Int) -> URL {
    folder.appendingPathComponent("status/step-\(step)-\(attempt).received")
  }

  static func closedMarker(in folder: URL, step: Int, attempt: Int) -> URL {
    folder.appendingPathComponent("status/step-\(step)-\(attempt).closed")
  }

  /// The attempt's job was seen finished: no upload for it is accepted any more.
  static func close(in folder: URL, step: Int, attempt: Int) {
    FileManager.default.createFile(atPath: closedMarker(in: folder, step: step, attempt: attempt).path, contents: nil)
  }

  static func received(in folder: URL, step: Int, attempt: Int) -> Bool {
    FileManager.default.fileExists(atPath: receivedMarker(in: folder, step: step, attempt: attempt).path)
  }
}

/// The agent's side of a Ray step's output (`/api/v1/runs/<id>/output`): a job running a step of
/// the run, holding the run's token, fetches the output so far and sends it back whole when its
/// step succeeded; what it sends replaces the run's output folder. Accepted only for the attempt
/// the run is at, while it runs: a stale or forged job cannot change a finished run.
public struct RayStepOutput: Sendable {
  let store: StateStore
  let runsFolder: URL
  /// Largest output accepted (the zip reader's limit).
  public static let maxBytes = Int(ZipArchive.maxSize)

  public init(store: StateStore, stateFolder: String) {
    self.store = store
    self.runsFolder = URL(fileURLWithPath: stateFolder).appendingPathComponent("runs")
  }

  /// Why a call for run `id` at `step`/`attempt` with `token` is refused (nil: it is accepted).
  public func refusal(run id: String, step: Int?, attempt: Int?, token: String?) -> (status: Int, reason: String)? {
    let folder = runsFolder.appendingPathComponent(id)
    guard !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }),
      let expected = try? RayOutputToken.read(in: folder), let token, constantTimeEqual(expected, token)
    else { return (401, "missing or wrong run token") }
    return current(run: id, step: step, attempt: attempt)
  }

  /// Why run `id` takes no output for `step`/`attempt` now (nil: it does).
  func current(run id: String, step: Int?, attempt: Int?) -> (status: Int, reason: String)? {
    guard let run = (try? store.activeRuns())?.first(where: { $0.id == id }), let job = run.rayJob else {
      return (409, "run \(id) has no Ray step running")
    }
    guard let step, let attempt, job == RayStep.submissionID(run: id, step: step, attempt: attempt),
      !FileManager.default.fileExists(
        atPath: RayOutputToken.closedMarker(in: runsFolder.appendingPathComponent(id), step: step, attempt: attempt)
          .path)
    else {
      return (409, "run \(id) is at another step or attempt, or this one has ended")
    }
    return nil
  }

  /// The run's output so far, as a zip.
  public func current(run id: String) throws -> Data {
    try ZipArchive.write(folder: runsFolder.appendingPathComponent(id).appendingPathComponent("output"))
  }

  /// Where an upload of run `id` is streamed before it is read (one file per upload).
  public func uploadFile(run id: String) -> URL {
    runsFolder.appendingPathComponent(id).appendingPathComponent("output-\(UUID().uuidString.prefix(8)).zip")
  }

  /// Replaces the run's output with the archive's content, and marks the attempt's output received.
  public func receive(run id: String, step: Int, attempt: Int, file: URL) throws {
    defer { try? FileManager.default.removeItem(at: file) }
    let archive = try Data(contentsOf: file, options: .alwaysMapped)
    // One upload at a time, and only while the attempt is still the run's (checked again: the
    // body took time to arrive).
    try Self.swapping.withLock { _ in
      if let refused = current(run: id, step: step, attempt: attempt) { throw RunError(refused.reason) }
      try replace(run: id, step: step, attempt: attempt, with: archive)
    }
  }

  /// Held while an upload replaces an output, and while an attempt is closed.
  static let swapping = Mutex(())

  private func replace(run id: String, step: Int, attempt: Int, with archive: Data) throws {
    let folder = runsFolder.appendingPathComponent(id)
    let incoming = folder.appendingPathComponent("output.incoming")
    let output = folder.appendingPathComponent("output")
    let fm = FileManager.default
    try? fm.removeItem(at: incoming)
    try ZipArchive.extract(archive, into: incoming)
    let old = folder.appendingPathComponent("output.previous")
    try? fm.removeItem(at: old)
    if fm.fileExists(atPath: output.path) { try fm.moveItem(at: output, to: old) }
    try fm.moveItem(at: incoming, to: output)
    try? fm.removeItem(at: old)
    let marker = RayOutputToken.receivedMarker(in: folder, step: step, attempt: attempt)
    try Data().write(to: marker)
  }
}
