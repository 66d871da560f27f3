import Drivers
import Foundation
import GitSource
import ModelOpsCore
import StateStore

struct BenchError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

/// `modelops-bench registry STATE_DIR N [MLFLOW_URL]`: N register + alias-move pairs through the
/// builtin registry, or MLflow's when a URL is given; prints `pairs_per_s` and the total.
func registry(state: String, pairs: Int, mlflow: String?) throws {
  let store = try StateStore(folder: state)
  let driver: any ModelRegistry =
    mlflow.map { MLflowRegistry(url: $0, store: store, folder: state) } ?? BuiltinRegistry(store: store, folder: state)
  let artifacts = URL(fileURLWithPath: state).appendingPathComponent("artifacts-in")
  var folders: [URL] = []
  for index in 0..<pairs {  // made before the clock starts: a small model of its own per version
    let folder = artifacts.appendingPathComponent("v\(index)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try Data("{\"weights\": [\(index), 0.5, -0.25, 1.0], \"bias\": 0.1}\n".utf8).write(
      to: folder.appendingPathComponent("weights.json"))
    folders.append(folder)
  }
  let start = Date()
  for folder in folders {
    let version = try driver.register(
      NewVersion(
        model: "bench", artifact: folder, metrics: ["accuracy": 0.9], profile: nil, lineage: ["commit": "bench"],
        createdAt: Date()))
    try driver.moveAlias(model: "bench", alias: "production", to: version, cause: "bench", at: Date())
  }
  let seconds = Date().timeIntervalSince(start)
  print("pairs \(pairs)\nseconds \(seconds)\npairs_per_s \(Double(pairs) / seconds)")
}

/// `modelops-bench replicas N WORK_DIR [DOCKER_SOCKET IMAGE]`: N quickstart replicas (serve.py)
/// started, waited for until healthy, and stopped, one at a time, on the process runtime, or as
/// containers when a socket is given; prints the medians of start → healthy and of stop.
func replicas(count: Int, work: String, socket: String?, image: String?) throws {
  let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  let model = work + "/model"
  try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
  try Data(#"{"features": ["a", "b", "c", "d"], "weights": [1, 0, 0, 0], "bias": 0}"#.utf8)
    .write(to: URL(fileURLWithPath: model + "/weights.json"))
  let runtime: any ReplicaRuntime =
    socket.map { DockerRuntime(engine: DockerEngine(address: $0), owner: "bench") } ?? ProcessRuntime()
  var ready: [Double] = []
  var stopped: [Double] = []
  for index in 0..<count {
    var spec = ReplicaSpec(
      deployment: "bench", id: "bench-\(index)", command: ["python3", "serving/serve.py"],
      directory: root.path + "/examples/quickstart", env: ["BIND": socket == nil ? "127.0.0.1" : "0.0.0.0"],
      port: try FreePort.pick(), model: "bench", modelVersion: 1, modelPath: model, log: work + "/replica.log")
    spec.image = image
    let start = Date()
    let handle = try runtime.start(spec)
    let health = HealthProbe.waitHealthy(
      handle, path: "/healthz", runtime: runtime, startup: 60, interval: 0.01, timeout: 1)
    guard health == .healthy else { throw BenchError("replica \(index) is \(health)") }
    ready.append(Date().timeIntervalSince(start))
    let stopping = Date()
    runtime.stop(handle, log: spec.log)
    stopped.append(Date().timeIntervalSince(stopping))
  }
  func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
  print("replicas \(count)\nready_s \(median(ready))\nstop_s \(median(stopped))")
}

let arguments = CommandLine.arguments
do {
  if arguments.count >= 5, arguments[1] == "cycle" {
    try cycle(
      url: arguments[2], state: arguments[3], path: arguments[4],
      cycles: arguments.count > 5 ? Int(arguments[5]) ?? 5 : 5,
      change: arguments.count > 7 ? OneFileChange(repository: arguments[6], file: arguments[7]) : nil)
  } else if arguments.count >= 4, arguments[1] == "registry", let pairs = Int(arguments[3]) {
    try registry(state: arguments[2], pairs: pairs, mlflow: arguments.count > 4 ? arguments[4] : nil)
  } else if arguments.count >= 4, arguments[1] == "replicas", let count = Int(arguments[2]), count > 0 {
    try replicas(
      count: count, work: arguments[3], socket: arguments.count > 5 ? arguments[4] : nil,
      image: arguments.count > 5 ? arguments[5] : nil)
  } else {
    FileHandle.standardError.write(
      Data(
        ("usage: modelops-bench cycle REMOTE_URL STATE_DIR PATH [CYCLES [WORK_REPO FILE]] | registry STATE_DIR N [MLFLOW_URL]"
          + " | replicas N WORK_DIR [DOCKER_SOCKET IMAGE]\n").utf8))
    exit(64)
  }
} catch {
  FileHandle.standardError.write(Data("error: \(error)\n".utf8))
  exit(1)
}
