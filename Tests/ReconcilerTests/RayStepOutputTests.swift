import Drivers
import Foundation
import StateStore
import Testing

@testable import Reconciler

/// The agent's end of a Ray step's output: only the run's token, for the attempt the run is at,
/// while it runs; what is accepted replaces the output whole.
@Suite struct RayStepOutputTests {
  @Test func onlyTheRunsTokenForItsCurrentAttemptIsAcceptedAndTheOutputIsReplacedWhole() throws {
    let state = FileManager.default.temporaryDirectory.appendingPathComponent("rayout-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: state) }
    let store = try StateStore(folder: state.path)
    let run = "train-20261203-000000-abcd"
    let folder = state.appendingPathComponent("runs/\(run)")
    try FileManager.default.createDirectory(
      at: folder.appendingPathComponent("status"), withIntermediateDirectories: true)
    try FileManager.default.createDirectory(
      at: folder.appendingPathComponent("output"), withIntermediateDirectories: true)
    try Data("old".utf8).write(to: folder.appendingPathComponent("output/stale.txt"))
    try RayOutputToken.create(in: folder)
    let token = try RayOutputToken.read(in: folder)
    #expect(token.count == 64)
    let attributes = try FileManager.default.attributesOfItem(atPath: RayOutputToken.file(in: folder).path)
    #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

    let output = RayStepOutput(store: store, stateFolder: state.path)
    // Not running yet: nothing is accepted, whatever the token.
    #expect(output.refusal(run: run, step: 0, attempt: 1, token: token)?.status == 409)
    try store.startRun(
      id: run, pipeline: "train", commit: nil, specDigest: "d", inputDigests: [:], reason: "test", at: Date())
    var progress = try #require(try store.activeRuns().first)
    progress.rayJob = RayStep.submissionID(run: run, step: 1, attempt: 2)
    try store.saveRunProgress(progress)

    #expect(output.refusal(run: run, step: 1, attempt: 2, token: nil)?.status == 401)
    #expect(output.refusal(run: run, step: 1, attempt: 2, token: String(token.dropLast()) + "0")?.status == 401)
    #expect(output.refusal(run: "../\(run)", step: 1, attempt: 2, token: token)?.status == 401)
    #expect(output.refusal(run: run, step: 1, attempt: 1, token: token)?.status == 409)
    #expect(output.refusal(run: run, step: 1, attempt: 2, token: token) == nil)

    let zip = try ZipArchive.write(
      folder: URL(fileURLWithPath: "/nonexistent"), extra: ["model/weights.json": Data("new".utf8)])
    let upload = output.uploadFile(run: run)
    try zip.write(to: upload)
    try output.receive(run: run, step: 1, attempt: 2, file: upload)
    #expect(
      try String(contentsOf: folder.appendingPathComponent("output/model/weights.json"), encoding: .utf8) == "new")
    #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("output/stale.txt").path))
    #expect(RayOutputToken.received(in: folder, step: 1, attempt: 2))
    #expect(!FileManager.default.fileExists(atPath: upload.path))

    // A hostile archive changes nothing.
    try Data("not a zip".utf8).write(to: upload)
    #expect(throws: (any Error).self) { try output.receive(run: run, step: 1, attempt: 2, file: upload) }
    #expect(
      try String(contentsOf: folder.appendingPathComponent("output/model/weights.json"), encoding: .utf8) == "new")
  }
}
