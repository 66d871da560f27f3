import Drivers
import Foundation
import Testing

/// A repository with two teams' work on one agent: pipeline `slow` trains until the test opens its
/// gate (a file), pipeline `broken` always fails, pipeline `fast` trains the model that
/// deployments `b` (rolling, one replica) and `c` (canary, 50 % for 10 minutes) serve.
final class TwoTeamsRepository {
  let scratch: Scratch
  var path: String { scratch.url.path }
  var state: String { path + "/.state" }
  var gate: String { path + "/gate" }
  /// The slow step writes `<run id> <pid>` here when it starts.
  var slowStarted: String { path + "/slow-started" }
  let listenB: Int
  let listenC: Int

  init() throws {
    scratch = try Scratch()
    listenB = try FreePort.pick()
    listenC = try FreePort.pick()
    try scratch.write(".gitignore", ".state/\nagent.yaml\ngate\nslow-started\n")
    try scratch.write("training/train.py", Self.train)
    try scratch.write("serving/serve.py", Self.serve)
    try scratch.write("manifests/models.yaml", Self.models)
    try scratch.write("manifests/pipelines.yaml", pipelines())
    try scratch.write("manifests/b.yaml", deployment("b", listen: listenB, flavor: "one", strategy: "{type: rolling}"))
    try scratch.write(
      "manifests/c.yaml",
      deployment(
        "c", listen: listenC, flavor: "one", strategy: "{type: canary, steps: [{weight: 50, pause: 10m}]}",
        replicas: 2))
    try scratch.write(
      "manifests/b-alerts.yaml",
      """
      apiVersion: modelops/v1
      kind: Monitor
      metadata: {name: b-alerts}
      spec:
        deployment: b
        source: {alertmanager: {alertname: BErrors}}
        actions: [rollback]

      """)
    try gitCommand(["init", "-q", "-b", "main"], in: scratch.url)
    try commit("two teams")
  }

  deinit { ExampleRepository.killProcesses(under: state) }

  func commit(_ message: String) throws { try commitAll(message, in: scratch.url) }

  /// Changes what a deployment's replicas answer (a new template: a rollout of the same version).
  func flavor(_ deployment: String, _ flavor: String) throws {
    let file = scratch.url.appendingPathComponent("manifests/\(deployment).yaml")
    let text = try String(contentsOf: file, encoding: .utf8)
    let changed = text.replacingOccurrences(
      of: #"FLAVOR: "[a-z]+""#, with: "FLAVOR: \"\(flavor)\"", options: .regularExpression)
    try changed.write(to: file, atomically: true, encoding: .utf8)
    try commit("\(deployment) answers \(flavor)")
  }

  /// agent.yaml reading this repository every second, three runs at once.
  func config() throws -> (config: String, apiPort: Int) {
    let port = try FreePort.pick()
    try scratch.write(
      "agent.yaml",
      """
      source: {url: \(path), branch: main, path: manifests, interval: 1s}
      state: \(state)
      api: {listen: 127.0.0.1:\(port)}
      training: {maxConcurrentRuns: 3}

      """)
    return (path + "/agent.yaml", port)
  }

  /// What the deployment's endpoint answers: `<version> <flavor>`, nil when it fails.
  static func answer(_ port: Int) -> String? {
    guard let response = try? HTTPClient.get("http://127.0.0.1:\(port)/", timeout: 2), response.status == 200 else {
      return nil
    }
    return String(decoding: response.body, as: UTF8.self)
  }

  private func pipelines() -> String {
    func pipeline(_ name: String, env: String) -> String {
      """
      apiVersion: modelops/v1
      kind: Pipeline
      metadata: {name: \(name)}
      spec:
        model: \(name)
        workdir: training
        steps:
          - name: train
            command: ["python3", "train.py"]
            env: \(env)
        triggers: {onSpecChange: true}
        retries: 0

      """
    }
    return [
      pipeline("fast", env: "{}"),
      pipeline("slow", env: "{GATE: \"\(gate)\", STARTED: \"\(slowStarted)\"}"),
      pipeline("broken", env: "{FAIL: \"1\"}"),
    ].joined(separator: "---\n")
  }

  private func deployment(_ name: String, listen: Int, flavor: String, strategy: String, replicas: Int = 1) -> String {
    """
    apiVersion: modelops/v1
    kind: Deployment
    metadata: {name: \(name)}
    spec:
      model: fast@production
      runtime: process
      command: ["python3", "serving/serve.py"]
      env: {FLAVOR: "\(flavor)"}
      replicas: \(replicas)
      listen: 127.0.0.1:\(listen)
      health: {path: /healthz, interval: 1s, timeout: 1s, failureThreshold: 3, startupTimeout: 30s}
      strategy: \(strategy)
      rollback: {auto: true, scaleDownDelay: 1s}

    """
  }

  private static let models = ["fast", "slow", "broken"].map { name in
    """
    apiVersion: modelops/v1
    kind: Model
    metadata: {name: \(name)}
    spec:
      pipeline: \(name)
      aliases:
        production: {policy: latest-passing, gates: [{metric: accuracy, min: 0.5}]}

    """
  }.joined(separator: "---\n")

  private static let train = """
    import json, os, sys, time
    started = os.environ.get("STARTED")
    if started:
        with open(started, "w") as f:
            f.write(os.environ["MODELOPS_RUN_ID"] + " " + str(os.getpid()))
    gate = os.environ.get("GATE")
    while gate and not os.path.exists(gate):
        time.sleep(0.1)
    if os.environ.get("FAIL"):
        sys.exit("this pipeline always fails")
    out = os.environ["MODELOPS_OUTPUT_DIR"]
    os.makedirs(os.path.join(out, "model"), exist_ok=True)
    with open(os.path.join(out, "model", "weights.json"), "w") as f:
        f.write("{}")
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump({"accuracy": 0.9}, f)

    """

  private static let serve = """
    import os
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    ANSWER = (os.environ.get("MODELOPS_MODEL_VERSION", "0") + " " + os.environ.get("FLAVOR", "")).encode()
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(ANSWER)))
            self.end_headers()
            self.wfile.write(ANSWER)
        def log_message(self, *args):
            pass
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()

    """
}
