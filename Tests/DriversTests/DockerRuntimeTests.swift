import Drivers
import Foundation
import ModelOpsTesting
import Synchronization
import Testing

/// The docker runtime against a real engine: podman's Docker-compatible service, started by the
/// tests on a unix socket (see PodmanService), with an image built from the host's python3.
@Suite struct DockerRuntimeTests {
  /// A quickstart replica as a container: serve.py from the repository's example (mounted as the
  /// workspace), listening on 0.0.0.0:8080 inside, published on a free port of 127.0.0.1.
  func replica(_ folder: Folder, _ service: PodmanService, command: [String]? = nil) throws -> ReplicaSpec {
    var spec = try quickstartReplica(folder, env: ["BIND": "0.0.0.0", "LOG_LEVEL": "debug"], command: command)
    spec.deployment = "docker-test-\(UUID().uuidString.prefix(6).lowercased())"
    spec.id = spec.deployment + "-v3-0"
    spec.revision = "v3/abc"
    spec.image = service.pythonImage
    spec.memoryLimit = 256 << 20
    spec.cpus = 0.5
    return spec
  }

  @Test func aContainerReplicaServesItsVersionWithItsLabelsLimitsAndReadOnlyModel() throws {
    let service = try PodmanService.shared()
    let folder = try Folder()
    let runtime = DockerRuntime(engine: service.engine, owner: "drivers-tests")
    let spec = try replica(folder, service)
    defer { service.removeContainers(label: DockerRuntime.Label.deployment, spec.deployment) }
    let handle = try runtime.start(spec)
    let id = try #require(handle.container)
    #expect(runtime.isRunning(handle))
    let health = HealthProbe.waitHealthy(
      handle, path: "/healthz", runtime: runtime, startup: 30, interval: 0.1, timeout: 1)
    #expect(health == .healthy, "\((try? service.engine.logs(id)).map { String(decoding: $0, as: UTF8.self) } ?? "")")
    let response = try HTTPClient.request(
      "POST", "http://127.0.0.1:\(spec.port)/predict", headers: ["Content-Type": "application/json"],
      body: Data(#"{"features": [2, 0, 0, 0]}"#.utf8), timeout: 5)
    #expect(response.status == 200)
    let prediction = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
    #expect(prediction?["version"] as? String == "3")

    let info = try #require(try service.engine.inspect(id))
    #expect(info.name.hasSuffix("modelops-\(spec.id)"))
    #expect(info.config.labels?[DockerRuntime.Label.deployment] == spec.deployment)
    #expect(info.config.labels?[DockerRuntime.Label.revision] == "v3/abc")
    #expect(info.config.labels?[DockerRuntime.Label.replica] == spec.id)
    #expect(info.config.labels?[DockerRuntime.Label.owner] == "drivers-tests")
    #expect(info.hostConfig?.memory == 256 << 20)
    #expect(info.hostConfig?.nanoCpus == 500_000_000)
    let mounts = info.mounts ?? []
    let model = try #require(mounts.first { $0.destination == "/modelops/model" }, "\(mounts)")
    #expect(model.source == spec.modelPath)
    #expect(model.rw == false)
    let listed = try runtime.containers(of: spec.deployment)
    #expect(listed.map(\.id) == [id])
    #expect(try DockerRuntime(engine: service.engine, owner: "another-agent").containers(of: spec.deployment).isEmpty)

    let stopping = Date()
    runtime.stop(handle, log: spec.log)
    #expect(Date().timeIntervalSince(stopping) < 4, "SIGTERM reaches the server (an init is PID 1), no 5 s wait")
    #expect(!runtime.isRunning(handle))
    #expect(try service.engine.inspect(id) == nil, "stopped replicas are removed")
    #expect(!HealthProbe.check(port: spec.port, path: "/healthz", timeout: 1))
  }

  @Test func theServingContractInsideTheContainer() throws {
    let service = try PodmanService.shared()
    let folder = try Folder()
    let runtime = DockerRuntime(engine: service.engine, owner: "drivers-tests")
    let script = """
      import os, sys
      for k in ["PORT", "MODELOPS_MODEL", "MODELOPS_MODEL_VERSION", "MODELOPS_MODEL_PATH", "LOG_LEVEL"]:
          print(k + "=" + os.environ.get(k, "-"))
      print("cwd=" + os.getcwd())
      print("weights=" + str(os.path.exists(os.path.join(os.environ["MODELOPS_MODEL_PATH"], "weights.json"))))
      try:
          open(os.path.join(os.environ["MODELOPS_MODEL_PATH"], "x"), "w")
          print("model writable")
      except OSError as e:
          print("model read-only: " + e.strerror, file=sys.stderr)
      """
    var spec = try replica(folder, service, command: ["python3", "-c", script])
    // A colon in a host path stays part of the path (mounts are objects, not `a:b:ro` strings).
    let model = folder.path + "/models/iris:v3"
    try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: spec.modelPath + "/weights.json", toPath: model + "/weights.json")
    spec.modelPath = model
    defer { service.removeContainers(label: DockerRuntime.Label.deployment, spec.deployment) }
    let handle = try runtime.start(spec)
    let id = try #require(handle.container)
    #expect(try service.engine.wait(id, until: Date().addingTimeInterval(30)) == 0)
    let output = String(decoding: try service.engine.logs(id), as: UTF8.self)
    for line in [
      "PORT=8080", "MODELOPS_MODEL=iris", "MODELOPS_MODEL_VERSION=3", "MODELOPS_MODEL_PATH=/modelops/model",
      "LOG_LEVEL=debug", "cwd=/modelops/workspace", "weights=True", "model read-only: Read-only file system",
    ] {
      #expect(output.contains(line + "\n"), "\(line) in \(output)")
    }
    #expect(!output.contains("model writable"))
    runtime.stop(handle, log: spec.log)
    let log = try String(contentsOfFile: spec.log, encoding: .utf8)
    #expect(log == output, "the container's output is kept in the replica's log when it is removed")
    #expect(try service.engine.inspect(id) == nil)
  }

  @Test func aMissingImageIsAClearErrorAndCreatesNothing() throws {
    let service = try PodmanService.shared()
    let folder = try Folder()
    let runtime = DockerRuntime(engine: service.engine, owner: "drivers-tests")
    var spec = try replica(folder, service)
    spec.image = "localhost/not-built-here:1"
    #expect {
      try runtime.start(spec)
    } throws: { error in
      "\(error)".contains("image localhost/not-built-here:1 is not on the docker engine at \(service.socket)")
        && "\(error)".contains("does not pull images unless runtime.pull is 'missing'")
    }
    #expect(try runtime.containers(of: spec.deployment).isEmpty)
    // Asked to pull, the engine tries, and its failure (no registry reachable) is the error.
    let pulling = DockerRuntime(engine: service.engine, pullMissing: true, owner: "drivers-tests")
    #expect(throws: DockerError.self) { try pulling.start(spec) }
    #expect(try runtime.containers(of: spec.deployment).isEmpty)
  }

  @Test func anEngineThatIsNotThereIsAClearError() throws {
    let folder = try Folder()
    let engine = DockerEngine(address: folder.path + "/docker.sock")
    #expect {
      try engine.version()
    } throws: { error in
      "\(error)".hasPrefix(
        "cannot read the engine's version: the docker engine at \(folder.path)/docker.sock did not answer")
    }
    // A name that would leave the API path is refused before anything is sent.
    #expect(throws: DockerError.self) { try engine.inspect("../../images/x") }
  }
}

@Suite struct ContainerLogTests {
  @Test func outputIsFollowedAsItIsWrittenAndTheExitCodeRead() throws {
    let service = try PodmanService.shared()
    let engine = service.engine
    var spec = ContainerSpec(name: "modelops-follow-\(UUID().uuidString.prefix(8))", image: service.pythonImage)
    spec.command = [
      "python3", "-c",
      "import sys, time\nprint('first', flush=True)\ntime.sleep(1.5)\nprint('second', file=sys.stderr, flush=True)\nsys.exit(3)",
    ]
    spec.labels = ["modelops.test": "follow"]
    let id = try engine.create(spec)
    defer { try? engine.remove(id) }
    try engine.start(id)
    let started = Date()
    let pieces = Mutex<[(at: TimeInterval, text: String)]>([])
    let ended = try engine.followLogs(id, until: Date().addingTimeInterval(30)) { data in
      pieces.withLock { $0.append((Date().timeIntervalSince(started), String(decoding: data, as: UTF8.self))) }
    }
    #expect(ended)
    let seen = pieces.withLock { $0 }
    #expect(seen.map(\.text).joined() == "first\nsecond\n")
    let first = try #require(seen.first { $0.text.contains("first") })
    #expect(first.at < 1.4, "'first' arrived while the container still ran, not at its end")
    #expect(try engine.wait(id, until: Date().addingTimeInterval(10)) == 3)
  }

  @Test func aFollowThatOutlastsItsDeadlineSaysSoAndLeavesTheContainerRunning() throws {
    let service = try PodmanService.shared()
    let engine = service.engine
    var spec = ContainerSpec(name: "modelops-slow-\(UUID().uuidString.prefix(8))", image: service.pythonImage)
    spec.command = ["python3", "-c", "import time; time.sleep(60)"]
    let id = try engine.create(spec)
    defer { try? engine.remove(id) }
    try engine.start(id)
    #expect(try engine.followLogs(id, until: Date().addingTimeInterval(1)) { _ in } == false)
    #expect(try engine.inspect(id)?.state.running == true)
    #expect(try engine.wait(id, until: Date().addingTimeInterval(0.5)) == nil)
  }
}
