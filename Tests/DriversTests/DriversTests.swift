import Drivers
import Foundation
import Synchronization
import Testing

/// The repository's root, found from this file's path.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent()

/// A folder that removes itself.
final class Folder {
  let path = FileManager.default.temporaryDirectory.appendingPathComponent("modelops-drivers-\(UUID().uuidString)").path
  init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
  deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A quickstart replica: serve.py with a small logistic model as its artifact.
func quickstartReplica(_ folder: Folder, version: Int = 3, env: [String: String] = [:], command: [String]? = nil)
  throws -> ReplicaSpec
{
  let model = folder.path + "/model"
  try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
  try Data(#"{"features": ["a", "b", "c", "d"], "weights": [1, 0, 0, 0], "bias": 0}"#.utf8)
    .write(to: URL(fileURLWithPath: model + "/weights.json"))
  return ReplicaSpec(
    deployment: "iris-api", id: "iris-api-v\(version)-0",
    command: command ?? ["python3", "serving/serve.py"], directory: root.path + "/examples/quickstart", env: env,
    port: try FreePort.pick(), model: "iris", modelVersion: version, modelPath: model, log: folder.path + "/replica.log"
  )
}

@Suite struct HTTPClientTests {
  @Test func aRefusedConnectionIsAClearError() throws {
    let port = try FreePort.pick()
    #expect {
      try HTTPClient.get("http://127.0.0.1:\(port)/", timeout: 2)
    } throws: { error in
      "\(error)".contains("GET http://127.0.0.1:\(port)/: Couldn't connect to server")
    }
  }
}

@Suite struct ProcessRuntimeTests {
  let runtime = ProcessRuntime()

  @Test func aReplicaServesItsVersionAndCountsItsRequests() throws {
    let folder = try Folder()
    let spec = try quickstartReplica(folder)
    let handle = try runtime.start(spec)
    defer { runtime.stop(handle) }
    let health = HealthProbe.waitHealthy(
      handle, path: "/healthz", runtime: runtime, startup: 20, interval: 0.1, timeout: 1)
    #expect(health == .healthy, "\((try? String(contentsOfFile: spec.log, encoding: .utf8)) ?? "")")
    let body = Data(#"{"features": [2, 0, 0, 0]}"#.utf8)
    let response = try HTTPClient.request(
      "POST", "http://127.0.0.1:\(spec.port)/predict", headers: ["Content-Type": "application/json"], body: body,
      timeout: 5)
    #expect(response.status == 200)
    let prediction = try JSONSerialization.jsonObject(with: response.body) as? [String: Any]
    #expect(prediction?["version"] as? String == "3")
    #expect(prediction?["label"] as? Int == 1)
    let metrics = String(
      decoding: try HTTPClient.get("http://127.0.0.1:\(spec.port)/metrics", timeout: 5).body, as: UTF8.self)
    #expect(metrics.contains(#"http_requests_total{version="3"} 1"#))
    #expect(metrics.contains(#"http_requests_errors_total{version="3"} 0"#))
  }

  @Test func aStoppedReplicaIsGoneAndAReusedPidIsNotMistakenForIt() throws {
    let folder = try Folder()
    let handle = try runtime.start(try quickstartReplica(folder))
    #expect(runtime.isRunning(handle))
    guard case .process(let pid, let startTime) = handle.identity else {
      Issue.record("a process runtime handle names a process")
      return
    }
    let other = ReplicaHandle(.process(pid: pid, startTime: startTime + 1), port: handle.port)
    #expect(!runtime.isRunning(other))
    runtime.stop(handle)
    #expect(!runtime.isRunning(handle))
    #expect(!HealthProbe.check(port: handle.port, path: "/healthz", timeout: 1))
  }

  @Test func aReplicaThatExitsOrNeverListensIsReportedSo() throws {
    let folder = try Folder()
    let crashing = try runtime.start(try quickstartReplica(folder, command: ["sh", "-c", "sleep 0.2; exit 4"]))
    #expect(
      HealthProbe.waitHealthy(crashing, path: "/healthz", runtime: runtime, startup: 10, interval: 0.1, timeout: 1)
        == .exited)
    let silent = try runtime.start(try quickstartReplica(folder, command: ["sleep", "30"]))
    defer { runtime.stop(silent) }
    #expect(
      HealthProbe.waitHealthy(silent, path: "/healthz", runtime: runtime, startup: 0.5, interval: 0.1, timeout: 0.2)
        == .timedOut)
  }

  @Test func theServingContractEnvironmentIsSet() throws {
    let folder = try Folder()
    var spec = try quickstartReplica(folder, env: ["LOG_LEVEL": "debug"], command: ["sh", "-c", "env | sort"])
    spec.id = "env"
    let handle = try? runtime.start(spec)
    for _ in 0..<200 where handle.map(runtime.isRunning) == true { usleep(10_000) }
    let env = try String(contentsOfFile: spec.log, encoding: .utf8)
    #expect(env.contains("PORT=\(spec.port)\n"))
    #expect(env.contains("MODELOPS_MODEL=iris\n"))
    #expect(env.contains("MODELOPS_MODEL_VERSION=3\n"))
    #expect(env.contains("MODELOPS_MODEL_PATH=\(folder.path)/model\n"))
    #expect(env.contains("LOG_LEVEL=debug\n"))
  }

  @Test func theMemoryLimitStopsAReplicaThatAllocatesPastIt() throws {
    let folder = try Folder()
    let script = "import sys\ntry:\n    b = bytearray(400 * 1024 * 1024)\nexcept MemoryError:\n    sys.exit(9)\n"
    var spec = try quickstartReplica(folder, command: ["python3", "-c", script])
    spec.memoryLimit = 200 << 20
    let child = try ChildProcess.spawn(
      spec.command, in: spec.directory, environment: ["PATH": "/usr/bin:/bin:/usr/local/bin"],
      log: spec.log, memoryLimit: spec.memoryLimit)
    #expect(child.wait(until: Date().addingTimeInterval(30)) == .code(9))
    spec.memoryLimit = nil
    let unlimited = try ChildProcess.spawn(
      spec.command, in: spec.directory, environment: ["PATH": "/usr/bin:/bin:/usr/local/bin"],
      log: spec.log)
    #expect(unlimited.wait(until: Date().addingTimeInterval(30)) == .code(0))
  }
}

@Suite struct NotifierTests {
  @Test func anUnreachableTargetIsRetriedWithBackoffThenGivenUpWithoutBlockingTheSender() throws {
    let port = try FreePort.pick()  // nothing listens there
    let lines = Mutex<[String]>([])
    let notifier = Notifier(
      targets: [NotifyTarget(url: "http://127.0.0.1:\(port)/secret-path", events: ["rollback"])], attempts: 3,
      firstWait: 0.05
    ) { line in lines.withLock { $0.append(line) } }
    // An event the target did not ask for queues nothing.
    notifier.send(Notification(event: "promoted", resource: "Model/m", reason: "policy"))
    #expect(notifier.pending == 0)
    notifier.send(Notification(event: "rollback", resource: "Deployment/d", from: "v2", to: "v1", reason: "test"))
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline, !lines.withLock({ $0.contains { $0.contains("gave up") } }) { usleep(20_000) }
    let said = lines.withLock { $0 }
    #expect(said.filter { $0.contains("retrying in") }.count == 2, "\(said)")
    #expect(said.last?.contains("gave up on http://127.0.0.1:\(port) after 3 attempts") == true, "\(said)")
    #expect(!said.joined().contains("secret-path"), "a webhook URL's path is not logged")
    #expect(notifier.pending == 0)
  }
}
