import Drivers
import Foundation
import Testing

/// Whether this machine lets the tests mount a tmpfs.
func canMountTmpfs() -> Bool {
  guard getuid() == 0, let scratch = try? Scratch() else { return false }
  let point = scratch.url.appendingPathComponent("probe").path
  try? FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: true)
  guard (try? run(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=1m", "tmpfs", point]))?.status == 0
  else { return false }
  _ = try? run(URL(fileURLWithPath: "/bin/umount"), [point])
  return true
}

/// A state folder whose disk fills up: `agent status` says what fails instead of "synced", and
/// the agent carries on once there is room again; on the built binary, with the state on a small
/// tmpfs of its own (the test mounts one: it needs root, as the rest of the suite's peers).
@Suite(.enabled(if: canMountTmpfs(), "mounting a tmpfs needs root")) struct FullDiskTests {
  @Test func aFullStateDiskIsShownByStatusAndTheAgentRecoversOnceThereIsRoom() throws {
    let scratch = try RunAsTests.lookingFor("nothing-to-find")
    try scratch.write(".gitignore", ".state/\n")
    let state = scratch.url.appendingPathComponent(".state").path
    try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
    let mounted = try run(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=16m", "tmpfs", state])
    try #require(mounted.status == 0, "\(mounted.stderr)")
    defer { _ = try? run(URL(fileURLWithPath: "/bin/umount"), ["-l", state]) }
    let port = try FreePort.pick()
    try scratch.write(
      "agent.yaml",
      """
      source: {url: \(scratch.url.path), branch: main, path: manifests, interval: 1s}
      state: \(state)
      api: {listen: 127.0.0.1:\(port)}

      """)
    let agent = try RunningAgent(
      config: scratch.url.path + "/agent.yaml", port: port, log: scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    let status = {
      (try? run(agentBinary(), ["status", "--wide", "--server", "http://127.0.0.1:\(port)"]).stdout) ?? ""
    }
    #expect(agent.waitUntil(60) { log().contains("registered v1") }, "\(log())")

    // The disk fills up; a new commit asks for training, which cannot even be prepared.
    let filler = state + "/filler"
    _ = try run(URL(fileURLWithPath: "/bin/dd"), ["if=/dev/zero", "of=\(filler)", "bs=64k"], timeout: 30)
    try scratch.write(
      "manifests/all.yaml",
      try String(contentsOf: scratch.url.appendingPathComponent("manifests/all.yaml"), encoding: .utf8)
        .replacingOccurrences(of: "spec:\n  model: m\n", with: "spec:\n  model: m\n  params: {round: \"2\"}\n"))
    try commitAll("retrain", in: scratch.url)
    let full = { (text: String) -> Bool in text.contains("No space left on device") || text.contains("disk is full") }
    #expect(agent.waitUntil(60) { full(status()) }, "\(status())\n\(log())")

    // Room again: the next pass succeeds (nothing was recorded of the failed ones, so nothing
    // waits for a backoff), and status no longer speaks of it.
    try FileManager.default.removeItem(atPath: filler)
    #expect(agent.waitUntil(60) { log().contains("registered v2") }, "\(log())")
    #expect(agent.waitUntil(30) { !full(status()) }, "\(status())")
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }
}
