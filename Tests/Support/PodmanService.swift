import Drivers
import Foundation
import Synchronization

/// A real Docker Engine API: podman's compatible service (`podman system service`) on a unix
/// socket in a temporary folder, with its own storage, run and temp folders, runc with cgroupfs
/// and finite ulimits (what this machine needs; given through `CONTAINERS_CONF`, /etc untouched),
/// and one image built from the host's own python3 (`scripts/python-image`; nothing is pulled).
///
/// One service per test process, started on first use: separate podman roots would hand out the
/// same bridge addresses to containers running at the same time. Stopped (its containers removed,
/// its folder deleted) when the test process exits.
/// (`@unchecked Sendable`: the service process is touched only when starting and at exit.)
public final class PodmanService: @unchecked Sendable {
  public let folder: String
  public let socket: String
  /// `localhost/modelops-python:test`: python3 and its standard library.
  public let pythonImage = "localhost/modelops-python:test"
  let peer: Peer
  /// The global options that keep this podman's state in `folder`.
  let options: [String]
  let environment: [String: String]

  public static func shared() throws -> PodmanService {
    try started.withLock { service in
      if let service { return service }
      let new = try PodmanService()
      service = new
      atexit { PodmanService.started.withLock { $0?.shutDown() } }
      return new
    }
  }

  private static let started = Mutex<PodmanService?>(nil)

  private init() throws {
    guard let podman = Self.which("podman") else {
      throw FixtureError("podman is not installed: run .ci/run (apt-get install podman runc)")
    }
    let folder = "/tmp/modelops-podman-\(UUID().uuidString.prefix(8))"
    self.folder = folder
    socket = folder + "/docker.sock"
    options = ["--root", folder + "/root", "--runroot", folder + "/run", "--tmpdir", folder + "/tmp"]
    var environment = ChildEnvironment.base()
    environment["CONTAINERS_CONF"] = folder + "/containers.conf"
    self.environment = environment
    for sub in ["root", "run", "tmp"] {
      try FileManager.default.createDirectory(atPath: "\(folder)/\(sub)", withIntermediateDirectories: true)
    }
    try Data(
      """
      [containers]
      default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
      [engine]
      runtime = "runc"
      cgroup_manager = "cgroupfs"
      events_logger = "file"
      """.utf8
    ).write(to: URL(fileURLWithPath: folder + "/containers.conf"))
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let image = try Peer(
      [root.path + "/scripts/python-image", pythonImage] + options, in: folder, log: folder + "/image.log",
      environment: environment)
    guard image.child.wait(until: Date().addingTimeInterval(120)) == .code(0) else {
      throw FixtureError("scripts/python-image failed: \(image.output.suffix(2000))")
    }
    let service = try Peer(
      [podman] + options + ["system", "service", "--time=0", "unix://" + socket], in: folder,
      log: folder + "/service.log", environment: environment)
    peer = service
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline, service.isRunning {
      if (try? DockerEngine(address: socket).version()) != nil { return }
      usleep(100_000)
    }
    throw FixtureError("podman system service did not answer on \(socket): \(service.output.suffix(2000))")
  }

  public var engine: DockerEngine { DockerEngine(address: socket) }

  /// Removes every container carrying `label` (`key=value`): a test's own cleanup.
  public func removeContainers(label key: String, _ value: String) {
    for container in (try? engine.list(labels: [key: value])) ?? [] { try? engine.remove(container.id) }
  }

  /// Removes every container, stops the service, deletes the folder.
  func shutDown() {
    if let podman = Self.which("podman"),
      let rm = try? Peer(
        [podman] + options + ["rm", "--all", "--force", "--time", "0"], in: "/", log: "/dev/null",
        environment: environment)
    {
      _ = rm.child.wait(until: Date().addingTimeInterval(30))
    }
    peer.stop()
    // Overlay mounts of removed containers are gone; what is left is plain files.
    if let podman = Self.which("podman"),
      let reset = try? Peer(
        [podman] + options + ["system", "reset", "--force"], in: "/", log: "/dev/null", environment: environment)
    {
      _ = reset.child.wait(until: Date().addingTimeInterval(30))
    }
    try? FileManager.default.removeItem(atPath: folder)
  }

  static func which(_ program: String) -> String? {
    for folder in ["/usr/bin", "/usr/local/bin", "/bin"]
    where FileManager.default.isExecutableFile(
      atPath: "\(folder)/\(program)")
    {
      return "\(folder)/\(program)"
    }
    return nil
  }
}
