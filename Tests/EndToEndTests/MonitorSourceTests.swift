import Drivers
import Foundation
import ModelOpsCore
import ModelOpsTesting
import Testing

/// Records every POST body as one line of `received.jsonl`; answers 500 to the first request, so
/// the notifier's retry is exercised.
let receiverScript = """
  import http.server, os, sys
  out = sys.argv[2]
  state = {"n": 0}
  class H(http.server.BaseHTTPRequestHandler):
      def log_message(self, *args): pass
      def do_POST(self):
          body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
          state["n"] += 1
          if state["n"] == 1:
              self.send_response(500); self.send_header("Content-Length", "0"); self.end_headers(); return
          with open(out, "ab") as f: f.write(body.replace(b"\\n", b" ") + b"\\n")
          self.send_response(204); self.end_headers()
  http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
  """

/// Monitors fed by the real Prometheus and Alertmanager (Debian's packages), started on loopback:
/// Prometheus finds the replicas through the agent's HTTP service discovery (`/api/v1/targets`).
@Suite struct MonitorSourceTests {
  /// Prometheus scraping the agent's replicas every second, with an optional alerting rule file
  /// and Alertmanager.
  func prometheus(
    _ repo: ExampleRepository, agentAPI: Int, token: String? = nil, rules: String? = nil,
    alertmanager: Int? = nil
  ) throws -> (Peer, Int) {
    let port = try FreePort.pick()
    let folder = repo.scratch.url.appendingPathComponent("prometheus")
    let authorization = token.map { "\n        authorization: {type: Bearer, credentials: \($0)}" } ?? ""
    var config = """
      global: {scrape_interval: 1s, evaluation_interval: 1s}
      scrape_configs:
        - job_name: modelops
          http_sd_configs:
            - url: http://127.0.0.1:\(agentAPI)/api/v1/targets
              refresh_interval: 1s\(authorization)

      """
    if let rules {
      try repo.scratch.write("prometheus/rules.yml", rules)
      config += "rule_files: [\(folder.path)/rules.yml]\n"
    }
    if let alertmanager {
      config += "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['127.0.0.1:\(alertmanager)']}]\n"
    }
    try repo.scratch.write("prometheus/prometheus.yml", config)
    let peer = try Peer(
      [
        "/usr/bin/prometheus", "--config.file=\(folder.path)/prometheus.yml",
        "--web.listen-address=127.0.0.1:\(port)", "--storage.tsdb.path=\(folder.path)/data",
        "--rules.alert.resend-delay=1s",
      ], in: folder.path, log: folder.path + "/prometheus.log", ready: "http://127.0.0.1:\(port)/-/ready")
    return (peer, port)
  }

  /// The quickstart's monitor with another source (and what goes with it), indented for `spec.source`.
  static func monitor(source: String) -> String {
    """
    apiVersion: modelops/v1
    kind: Monitor
    metadata: {name: iris-api-errors}
    spec:
      deployment: iris-api
      source:
    \(source)  actions: [rollback, notify]

    """
  }

  /// Sends `count` predictions through the stable endpoint; the versions that answered 200.
  static func traffic(_ listen: Int, _ count: Int) -> [Int?] { ServingTests.sample(listen, count) }

  @Test func aPrometheusQueryJudgesTheCanaryPerVersionAndFailsABadOne() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort(canarySteps: "      - {weight: 50, pause: 30s}\n")
    let (config, api) = try repo.localAgentConfig()
    let (prometheus, promPort) = try prometheus(repo, agentAPI: api)
    try repo.scratch.write(
      "agent.yaml",
      try String(contentsOfFile: config, encoding: .utf8) + "\nprometheus: {url: http://127.0.0.1:\(promPort)}\n")
    try repo.scratch.write(
      "manifests/monitors/iris-api-errors.yaml",
      Self.monitor(
        source: """
              prometheus:
                query: >-
                  sum(rate(http_requests_errors_total{deployment="$deployment",version="$version"}[5s]))
                  / sum(rate(http_requests_total{deployment="$deployment",version="$version"}[5s]))
                interval: 1s
            threshold: {max: 0.05}
            for: 2s

          """))
    try repo.commit("judge through Prometheus")
    let agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    #expect(agent.waitUntil(120) { ServingTests.predict(listen) == 1 }, "\(log())")
    // Prometheus discovers the two replicas with their deployment and version labels.
    let targets = try HTTPClient.get("http://127.0.0.1:\(api)/api/v1/targets", timeout: 5)
    let groups = try #require(try JSONSerialization.jsonObject(with: targets.body) as? [[String: Any]])
    #expect(groups.count == 2)
    #expect(groups.allSatisfy { ($0["labels"] as? [String: String])?["version"] == "1" })
    let query = "http://127.0.0.1:\(promPort)/api/v1/query?query=up%7Bdeployment%3D%22iris-api%22%7D"
    #expect(
      agent.waitUntil(30) {
        let body = (try? HTTPClient.get(query, timeout: 2).body).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return body.components(separatedBy: "\"version\":\"1\"").count == 3
      }, "\(prometheus.output)")

    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "7""#, with: #"seed: "8", fault_rate: "0.5""#)
    }
    try repo.commit("a bad version")
    let models = {
      (try? run(agentBinary(), ["models", "iris-classifier", "--wide", "--state", repo.state]).stdout) ?? ""
    }
    #expect(
      agent.waitUntil(120) {
        _ = Self.traffic(listen, 10); return models().contains("rejected:")
      }, "\(log())")
    // The rollout's analysis or the monitor's own rollback action, whichever runs first, rejects it.
    #expect(models().contains("monitor 'iris-api-errors' fired"), "\(models())")
    #expect(log().contains("monitor iris-api-errors fired: "))
    #expect(agent.waitUntil(30) { Self.traffic(listen, 20).allSatisfy { $0 == 1 } })
    #expect(log().components(separatedBy: "… Deployment/iris-api rollout").count == 2, "no second rollout")
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }

  @Test func anAlertFromAlertmanagerRollsBackWritesBackABranchAndNotifies() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort(canarySteps: "      - {weight: 50, pause: 1s}\n")
    let (config, api) = try repo.localAgentConfig(token: "{env: TEST_API_TOKEN}")
    let secrets = ["TEST_API_TOKEN": "t0ken", "TEST_WEBHOOK_SECRET": "hook-s3cret"]
    let receiverPort = try FreePort.pick()
    let received = repo.scratch.url.appendingPathComponent("received.jsonl")
    try repo.scratch.write("receiver.py", receiverScript)
    let receiver = try Peer(
      ["/usr/bin/python3", repo.path + "/receiver.py", "\(receiverPort)", received.path], in: repo.path,
      log: repo.path + "/receiver.log")
    try repo.scratch.write(
      "agent.yaml",
      try String(contentsOfFile: config, encoding: .utf8) + "\n" + """
        writeBack: true
        webhooks: {git: {secret: {env: TEST_WEBHOOK_SECRET}}}
        notify:
          - {url: "http://127.0.0.1:\(receiverPort)/hook", events: [rollback, promoted]}

        """)
    try repo.scratch.write(
      "manifests/monitors/iris-api-errors.yaml", Self.monitor(source: "    alertmanager: {alertname: IrisApiErrors}\n"))
    try repo.commit("alerts from Alertmanager")

    let amPort = try FreePort.pick()
    try repo.scratch.write(
      "alertmanager/am.yml",
      """
      route: {receiver: modelops, group_by: [alertname, deployment, version], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}
      receivers:
        - name: modelops
          webhook_configs:
            - url: http://127.0.0.1:\(api)/hooks/alertmanager
              send_resolved: true
              http_config: {authorization: {type: Bearer, credentials: t0ken}}

      """)
    let amFolder = repo.scratch.url.appendingPathComponent("alertmanager")
    let alertmanager = try Peer(
      [
        "/usr/bin/prometheus-alertmanager", "--config.file=\(amFolder.path)/am.yml",
        "--web.listen-address=127.0.0.1:\(amPort)", "--cluster.listen-address=", "--storage.path=\(amFolder.path)/data",
      ], in: amFolder.path, log: amFolder.path + "/am.log", ready: "http://127.0.0.1:\(amPort)/-/ready")
    let rules = """
      groups:
        - name: iris
          rules:
            - alert: IrisApiErrors
              expr: >-
                sum by (deployment, version) (rate(http_requests_errors_total[5s]))
                / sum by (deployment, version) (rate(http_requests_total[5s])) > 0.05
              annotations: {summary: "iris-api answers more than 5% errors"}

      """
    let (prometheus, _) = try prometheus(repo, agentAPI: api, token: "t0ken", rules: rules, alertmanager: amPort)

    let agent = try RunningAgent(
      config: config, port: api, environment: secrets, log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    #expect(agent.waitUntil(120) { ServingTests.predict(listen) == 1 }, "\(log())")

    // The hooks: a forged payload or a missing token changes nothing.
    let hook = "http://127.0.0.1:\(api)/hooks/alertmanager"
    #expect(try HTTPClient.request("POST", hook, body: Data("{}".utf8), timeout: 5).status == 401)
    let bad = try HTTPClient.request(
      "POST", hook, headers: ["Authorization": "Bearer t0ken"], body: Data(#"{"version": "4"}"#.utf8), timeout: 5)
    #expect(bad.status == 400)
    let gitHook = "http://127.0.0.1:\(api)/hooks/git"
    let push = Data(#"{"ref": "refs/heads/main"}"#.utf8)
    let signature = "sha256=" + SHA256.hmacHex(key: Array("hook-s3cret".utf8), message: push)
    #expect(
      try HTTPClient.request("POST", gitHook, headers: ["X-Hub-Signature-256": signature], body: push, timeout: 5)
        .status == 202)
    #expect(
      try HTTPClient.request(
        "POST", gitHook, headers: ["X-Hub-Signature-256": signature], body: Data(#"{"ref": "x"}"#.utf8), timeout: 5
      ).status == 401)
    #expect(try HTTPClient.request("POST", gitHook, body: push, timeout: 5).status == 401)

    // A bad v2 rolls out (1 s canary; alerts do not gate on data), then its errors raise the alert.
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "7""#, with: #"seed: "8", fault_rate: "0.5""#)
    }
    try repo.commit("a bad version")
    #expect(agent.waitUntil(120) { log().contains("✓ Deployment/iris-api rollout v1/") }, "\(log())")
    #expect(
      agent.waitUntil(90) {
        _ = Self.traffic(listen, 10); return log().contains("✓ Deployment/iris-api rollback")
      }, "\(log())\n\(prometheus.output)\n\(alertmanager.output)")
    #expect(log().contains("monitor iris-api-errors fired: iris-api answers more than 5% errors (Alertmanager, v2)"))
    #expect(Self.traffic(listen, 20).allSatisfy { $0 == 1 })
    let models = try run(agentBinary(), ["models", "iris-classifier", "--wide", "--state", repo.state]).stdout
    #expect(models.contains("monitor 'iris-api-errors' fired after the rollout"), "\(models)")

    // Write-back: a branch pins v1 in the deployment's manifest; main is untouched.
    #expect(agent.waitUntil(30) { log().contains("✓ Deployment/iris-api write-back") }, "\(log())")
    let pinned = try repo.git("show", "modelops/rollback/iris-api:manifests/deploy/iris-api.yaml").stdout
    #expect(pinned.contains("  model: iris-classifier@v1\n"), "\(pinned)")
    #expect(try repo.git("rev-parse", "modelops/rollback/iris-api~1").stdout == repo.git("rev-parse", "main").stdout)
    let history = try run(agentBinary(), ["history", "iris-api", "--state", repo.state]).stdout
    #expect(history.contains("pushed branch modelops/rollback/iris-api pinning v1"), "\(history)")

    // Notifications: the promotions and the rollback, delivered despite the receiver's first 500.
    #expect(
      agent.waitUntil(30) { ((try? String(contentsOf: received, encoding: .utf8)) ?? "").contains("\"rollback\"") })
    let lines = ((try? String(contentsOf: received, encoding: .utf8)) ?? "").split(separator: "\n")
    let events = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    let rollback = try #require(events.first { $0["event"] as? String == "rollback" })
    #expect(rollback["resource"] as? String == "Deployment/iris-api")
    #expect((rollback["from"] as? String)?.hasPrefix("v2/") == true)
    #expect((rollback["to"] as? String)?.hasPrefix("v1/") == true)
    #expect((rollback["reason"] as? String)?.contains("monitor 'iris-api-errors' fired after the rollout") == true)
    #expect(events.contains { $0["event"] as? String == "promoted" })
    #expect(!log().contains("hook-s3cret") && !log().contains("t0ken"))
    #expect(agent.terminate(within: 20) == 0, "\(log())")
    withExtendedLifetime((receiver, alertmanager, prometheus)) {}
  }

  /// A value of the training data's `amount`: N(±1.2, 1), the sign a fair coin (generate.py).
  static func typicalAmount<G: RandomNumberGenerator>(_ generator: inout G) -> Double {
    let u1 = Double.random(in: Double.ulpOfOne..<1, using: &generator)
    let u2 = Double.random(in: 0..<1, using: &generator)
    let normal = (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    return (Bool.random(using: &generator) ? 1.2 : -1.2) + normal
  }

  /// Adds the `iris-drift` monitor: PSI of the live `amount` against the version's profile,
  /// scraped every second, fired after 2 s, retraining.
  static func watchDrift(_ repo: ExampleRepository) throws {
    try repo.scratch.write(
      "manifests/monitors/iris-drift.yaml",
      """
      apiVersion: modelops/v1
      kind: Monitor
      metadata: {name: iris-drift}
      spec:
        deployment: iris-api
        source: {scrape: {interval: 1s}}
        metric: {drift: {feature: amount, method: psi}}
        window: 10s
        for: 2s
        actions: [retrain, notify]

      """)
  }

  @Test func driftOfALiveFeatureAgainstTheVersionsProfileRetrainsOncePerFiring() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort()
    try Self.watchDrift(repo)
    try repo.commit("watch the drift of amount")
    let (config, api) = try repo.localAgentConfig()
    let agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    // Every request counts in the monitor's window, the readiness probes too: they look like the
    // training data (the default features' amount of 120 would be a drift of its own).
    var generator = SystemRandomNumberGenerator()
    #expect(
      agent.waitUntil(120) {
        ServingTests.predict(listen, features: [Self.typicalAmount(&generator), 0.5, 0.8, 0]) == 1
      }, "\(log())")
    // 10 s of traffic like the training data: the monitor judges it and stays quiet.
    let calm = Date().addingTimeInterval(10)
    while Date() < calm { _ = ServingTests.predict(listen, features: [Self.typicalAmount(&generator), 0.5, 0.8, 0]) }
    #expect(!log().contains("monitor iris-drift fired"), "\(log())")
    // Then `amount` shifts far from its profile: PSI > 0.25 for 2 s fires the monitor, which
    // starts the model's pipeline with the alert as the reason.
    let trains = { log().components(separatedBy: "… Pipeline/iris-train train").count - 1 }
    #expect(trains() == 1)
    #expect(
      agent.waitUntil(60) {
        for _ in 0..<20 { _ = ServingTests.predict(listen, features: [3.6, 0.5, 0.8, 0]) }
        return trains() == 2
      }, "\(log())")
    #expect(log().contains("monitor iris-drift fired: "), "\(log())")
    let events = {
      (try? HTTPClient.get("http://127.0.0.1:\(api)/api/v1/events?name=iris-train", timeout: 5))
        .map { String(decoding: $0.body, as: UTF8.self) } ?? ""
    }
    #expect(agent.waitUntil(30) { events().contains("monitor 'iris-drift' fired on v1") }, "\(events())")
    // Still firing on v1, but that firing has had its run: no second retrain.
    #expect(!agent.waitUntil(5) { trains() > 2 })
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }
}
