import Drivers
import Foundation

/// A real two-node Ray cluster on loopback (PyPI `ray[default,serve]`): a head with no CPUs (jobs
/// never run there) and one worker with two, each its own `ray start --block` (which stops what
/// it started when it is terminated). The head's node address is 127.0.0.2 and the worker's
/// 127.0.0.3 (Ray turns 127.0.0.1 into the host's outside address), the dashboard listens on
/// 127.0.0.1. `ray` is found through $MODELOPS_RAY, else `.venv-ray/bin/ray` in the repository
/// (what .ci/run installs). Stopped, and its folder removed, when released.
public final class RayCluster {
  public let folder: String
  /// `http://127.0.0.1:PORT`: the dashboard (Jobs, Serve and packages REST API).
  public let address: String
  /// The port Serve's HTTP proxy is asked to listen on (127.0.0.1), by the agent's config.
  public let servePort: Int
  private var head: Peer?
  private var worker: Peer?
  public static let headIP = "127.0.0.2"
  public static let workerIP = "127.0.0.3"

  public init(workerCPUs: Int = 2) throws {
    let folder = "/tmp/mray-\(UUID().uuidString.prefix(8).lowercased())"
    self.folder = folder
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let candidates = [
      ProcessInfo.processInfo.environment["MODELOPS_RAY"], root.appendingPathComponent(".venv-ray/bin/ray").path,
    ].compactMap { $0 }
    guard let ray = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
      throw FixtureError("ray is not installed: run .ci/run, or set MODELOPS_RAY")
    }
    let bin = URL(fileURLWithPath: ray).deletingLastPathComponent().path
    var environment = ChildEnvironment.base()
    // Jobs run `python` from the cluster's environment, as on a real cluster's image.
    environment["PATH"] = "\(bin):" + (environment["PATH"] ?? "/usr/bin:/bin")
    environment["RAY_USAGE_STATS_ENABLED"] = "0"
    let gcs = try FreePort.pick()
    let dashboard = try FreePort.pick()
    servePort = try FreePort.pick()
    address = "http://127.0.0.1:\(dashboard)"
    head = try Peer(
      [
        ray, "start", "--head", "--block", "--node-ip-address", Self.headIP, "--port", "\(gcs)", "--num-cpus", "0",
        "--dashboard-host", "127.0.0.1", "--dashboard-port", "\(dashboard)",
        "--dashboard-agent-listen-port", "\(try FreePort.pick())", "--ray-client-server-port", "\(try FreePort.pick())",
        "--temp-dir", "\(folder)/ray", "--disable-usage-stats",
      ], in: folder, log: "\(folder)/head.log", ready: address + "/api/version", seconds: 120,
      environment: environment)
    worker = try Peer(
      [
        ray, "start", "--block", "--address", "\(Self.headIP):\(gcs)", "--node-ip-address", Self.workerIP,
        "--num-cpus", "\(workerCPUs)", "--dashboard-agent-listen-port", "\(try FreePort.pick())",
        "--disable-usage-stats",
      ], in: folder, log: "\(folder)/worker.log", environment: environment)
    let deadline = Date().addingTimeInterval(120)
    let client = RayDashboard(address: address)
    while Date() < deadline {
      if let nodes = try? client.nodeResources(), nodes.count == 2 { return }
      guard worker?.isRunning == true else { break }
      usleep(500_000)
    }
    throw FixtureError("the Ray worker did not join: \(worker?.output.suffix(2000) ?? "")")
  }

  deinit { stop() }

  /// Stops both nodes: SIGTERM to each `ray start --block`, which stops its Ray processes, then
  /// SIGKILL to its process group if it is still there after 20 s.
  public func stop() {
    let peers = [worker, head].compactMap { $0 }
    for peer in peers { kill(peer.child.pid, SIGTERM) }
    let deadline = Date().addingTimeInterval(20)
    for peer in peers {
      while peer.isRunning, Date() < deadline { usleep(100_000) }
      // Ray's workers (Serve's actors among them) end by themselves once their raylet is gone.
      peer.stop()
    }
    worker = nil
    head = nil
    try? FileManager.default.removeItem(atPath: folder)
  }
}
