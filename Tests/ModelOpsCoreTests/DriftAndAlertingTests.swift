import Foundation
import ModelOpsCore
import Testing

@Suite struct DriftTests {
  @Test func psiSumsTheShareDifferencesWeightedByTheirLogRatio() throws {
    // (0.5 − 0.25)·ln 2 + (0.5 − 0.75)·ln(2/3)
    let psi = try #require(Drift.psi(live: [50, 50], baseline: [25, 75]))
    #expect(abs(psi - 0.274653) < 1e-5)
    #expect(Drift.psi(live: [10, 20, 30], baseline: [100, 200, 300]) == 0)
    // An empty bucket counts (floored share), without dividing by zero.
    let empty = try #require(Drift.psi(live: [0, 100], baseline: [50, 50]))
    #expect(empty > 2 && empty.isFinite)
    #expect(Drift.psi(live: [0, 0], baseline: [1, 1]) == nil, "no live values: no data")
    #expect(Drift.psi(live: [1, 2, 3], baseline: [1, 2]) == nil, "buckets must match")
  }

  @Test func ksGivesTheLargestCumulativeDistanceAndItsPValue() throws {
    let same = try #require(Drift.ks(live: [10, 20, 30], baseline: [20, 40, 60]))
    #expect(same.statistic == 0)
    #expect(same.pValue == 1)
    // D = 0.1 with 200 values each: λ = (10 + 0.12 + 0.011)·0.1, Q(λ) ≈ 0.2562.
    let near = try #require(Drift.ks(live: [60, 140], baseline: [80, 120]))
    #expect(abs(near.statistic - 0.1) < 1e-12)
    #expect(abs(near.pValue - 0.2562) < 0.001, "\(near.pValue)")
    let apart = try #require(Drift.ks(live: [0, 100], baseline: [100, 0]))
    #expect(apart.statistic == 1)
    #expect(apart.pValue < 1e-6)
  }

  @Test func aProfileIsCheckedWhenRead() throws {
    let good = #"{"features": {"amount": {"edges": [0, 1], "counts": [3, 4, 5]}}}"#
    #expect(try DriftProfile.decode(Data(good.utf8)).features["amount"]?.counts == [3, 4, 5])
    let cases = [
      (#"{"features": {"amount": {"edges": [0, 1], "counts": [3, 4]}}}"#, "has 2 edges, so 3 counts"),
      (#"{"features": {"amount": {"edges": [1, 0], "counts": [3, 4, 5]}}}"#, "must be finite and ascending"),
      (#"{"features": {"amount": {"edges": [0], "counts": [-1, 4]}}}"#, "must be finite and not negative"),
      (#"{"amount": [1, 2]}"#, "profile.json is not"),
    ]
    for (text, message) in cases {
      #expect {
        try DriftProfile.decode(Data(text.utf8))
      } throws: { error in
        "\(error)".contains(message)
      }
    }
  }

  @Test func aDriftMonitorComparesTheLiveHistogramWithTheBaseline() throws {
    let start = Date(timeIntervalSince1970: 1_000_000)
    func histogram(_ counts: [Int]) throws -> [MetricSample] {
      var cumulative = 0
      var text = "# TYPE modelops_feature_value histogram\n"
      for (bound, count) in zip(["0.0", "1.0", "+Inf"], counts) {
        cumulative += count
        text += "modelops_feature_value_bucket{feature=\"amount\",le=\"\(bound)\"} \(cumulative)\n"
      }
      text += "modelops_feature_value_count{feature=\"amount\"} \(cumulative)\n"
      text += "modelops_feature_value_sum{feature=\"amount\"} 0\n"
      return try PrometheusText.samples(text)
    }
    let points = [
      ScrapePoint(at: start, replica: "a", version: 1, samples: try histogram([5, 5, 5])),
      ScrapePoint(at: start.addingTimeInterval(10), replica: "a", version: 1, samples: try histogram([5, 105, 205])),
    ]
    let baseline = DriftProfile.Feature(edges: [0, 1], counts: [100, 50, 50])
    let now = start.addingTimeInterval(10)
    let psi = ScrapeEvaluation.value(
      of: .drift(feature: "amount", method: .psi), version: 1, points: points, window: 60, now: now, baseline: baseline)
    // Live increase over the window: [0, 100, 200].
    #expect(psi == Drift.psi(live: [0, 100, 200], baseline: [100, 50, 50]))
    let ks = ScrapeEvaluation.value(
      of: .drift(feature: "amount", method: .ks), version: 1, points: points, window: 60, now: now, baseline: baseline)
    #expect(ks == Drift.ks(live: [0, 100, 200], baseline: [100, 50, 50])?.pValue)
    // Fewer than 200 live values in the window: no data (a small sample drifts by chance).
    var few = points
    few[1] = ScrapePoint(
      at: start.addingTimeInterval(10), replica: "a", version: 1, samples: try histogram([5, 55, 105]))
    #expect(
      ScrapeEvaluation.value(
        of: .drift(feature: "amount", method: .psi), version: 1, points: few, window: 60, now: now, baseline: baseline)
        == nil)
    // Buckets that differ from the profile's edges: no data rather than a wrong answer.
    let other = DriftProfile.Feature(edges: [0, 2], counts: [1, 1, 1])
    #expect(
      ScrapeEvaluation.value(
        of: .drift(feature: "amount", method: .psi), version: 1, points: points, window: 60, now: now, baseline: other)
        == nil)
  }
}

@Suite struct AlertingTests {
  let firing = """
    {"receiver": "modelops", "status": "firing", "version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0,
     "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
     "alerts": [{"status": "firing", "labels": {"alertname": "IrisErrors", "version": "2"},
                 "annotations": {"summary": "errors above 5%"}, "startsAt": "2026-11-23T10:00:00Z",
                 "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom", "fingerprint": "abc"}]}
    """

  @Test func anAlertmanagerPayloadIsReadAndCheckedForVersionFour() throws {
    let payload = try AlertmanagerPayload.decode(Data(firing.utf8))
    #expect(payload.alerts.count == 1)
    #expect(payload.alerts[0].labels["alertname"] == "IrisErrors")
    #expect(payload.alerts[0].annotations["summary"] == "errors above 5%")
    let cases = [
      (firing.replacingOccurrences(of: #""version": "4""#, with: #""version": "3""#), "version 3 is not supported"),
      (
        firing.replacingOccurrences(of: #"{"status": "firing", "labels""#, with: #"{"status": "odd", "labels""#),
        "neither firing nor resolved"
      ),
      (#"{"alerts": 1}"#, "not an Alertmanager webhook payload"),
      (String(repeating: " ", count: AlertmanagerPayload.maxBytes + 1), "larger than"),
    ]
    for (text, message) in cases {
      #expect {
        try AlertmanagerPayload.decode(Data(text.utf8))
      } throws: { error in
        "\(error)".contains(message)
      }
    }
  }

  @Test func prometheusQueryAnswersGiveOneValuePerSeries() throws {
    let vector = #"""
      {"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"version":"1"},"value":[1700000000.1,"0.01"]},
        {"metric":{"version":"2"},"value":[1700000000.1,"NaN"]},
        {"metric":{"version":"3"},"value":[1700000000.1,"+Inf"]}]}}
      """#
    #expect(try PrometheusQuery.values(Data(vector.utf8), status: 200) == [0.01, .infinity])
    let scalar = #"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}"#
    #expect(try PrometheusQuery.values(Data(scalar.utf8), status: 200) == [3])
    let empty = #"{"status":"success","data":{"resultType":"vector","result":[]}}"#
    #expect(try PrometheusQuery.values(Data(empty.utf8), status: 200) == [])
    let failed = #"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#
    #expect {
      try PrometheusQuery.values(Data(failed.utf8), status: 400)
    } throws: { error in
      "\(error)" == "bad_data: parse error at char 5"
    }
    let matrix = #"{"status":"success","data":{"resultType":"matrix","result":[]}}"#
    #expect(throws: MetricsError.self) { try PrometheusQuery.values(Data(matrix.utf8), status: 200) }
  }

  @Test func hmacMatchesRFC4231() {
    #expect(
      SHA256.hmacHex(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    #expect(
      SHA256.hmacHex(
        key: [UInt8](repeating: 0xaa, count: 131),
        message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
        == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
  }
}

@Suite struct NotifyConfigTests {
  func parse(_ yaml: String) -> Result<AgentConfig, ConfigError> {
    AgentConfig.parse(Array(("source: {url: /srv/git/ml.git}\n" + yaml).utf8), path: "agent.yaml")
  }

  @Test func notifyTargetsAreCheckedAndEventsDefaultToAll() throws {
    let config = try parse(
      "notify:\n  - {url: https://hooks.example.com/T0, events: [rollback, promoted]}\n  - {url: http://127.0.0.1:9}\n"
    ).get()
    #expect(config.notify.map(\.events) == [["rollback", "promoted"], []])
    #expect(
      "\(parse("notify: [{url: https://h.example/x, events: [rolback]}]\n"))".contains(
        "agent.yaml:2:46: error: 'notify[0].events[0]' must be one of rollback, run-failed, apply-failed, promoted, monitor-fired, got 'rolback' (did you mean 'rollback'?)"
      ))
    #expect(
      "\(parse("notify: [{url: ftp://h.example/x}]\n"))".contains(
        "agent.yaml:2:16: error: 'notify[0].url' must be an http:// or https:// URL"))
  }
}

@Suite struct ConfigURLTests {
  @Test func secretsInURLsAreRefusedButAnSSHUserIsNot() throws {
    func errors(_ yaml: String) -> String {
      switch AgentConfig.parse(Array(yaml.utf8), path: "agent.yaml") {
      case .success: return ""
      case .failure(let error): return error.description
      }
    }
    #expect(errors("source: {url: 'ssh://git@github.com/org/ml.git'}\n") == "")
    #expect(
      errors("source: {url: 'https://tok3n@github.com/org/ml.git'}\n").contains("must not hold a password or token"))
    #expect(
      errors("source: {url: 'https://u:p@github.com/org/ml.git'}\n").contains("must not hold a password or token"))
    #expect(
      errors("source: {url: /srv/ml.git}\nprometheus: {url: 'http://admin:pw@127.0.0.1:9090'}\n")
        == "agent.yaml:2:19: error: 'prometheus.url' must not hold a password")
    #expect(errors("source: {url: /srv/ml.git}\nprometheus: {url: 'http://127.0.0.1:9090'}\n") == "")
  }
}

@Suite struct RuntimeConfigTests {
  func parse(_ yaml: String) -> Result<AgentConfig, ConfigError> {
    AgentConfig.parse(Array(("source: {url: /srv/git/ml.git}\n" + yaml).utf8), path: "agent.yaml")
  }

  func errors(_ yaml: String) -> String {
    switch parse(yaml) {
    case .success: return ""
    case .failure(let error): return error.description
    }
  }

  @Test func theDockerRuntimeTakesASocketAPullPolicyAndTLSFiles() throws {
    guard case .docker(let plain) = try parse("runtime: {type: docker}\n").get().runtime else {
      Issue.record("runtime: docker")
      return
    }
    #expect(plain.socket == "/var/run/docker.sock")
    #expect(!plain.pullMissing)
    let yaml =
      "runtime:\n  type: docker\n  socket: tcp://10.0.0.5:2376\n  pull: missing\n"
      + "  tls: {ca: /etc/docker/ca.pem, cert: /etc/docker/cert.pem, key: /etc/docker/key.pem}\n"
    guard case .docker(let remote) = try parse(yaml).get().runtime else {
      Issue.record("runtime: docker over tcp")
      return
    }
    #expect(remote.socket == "tcp://10.0.0.5:2376")
    #expect(remote.pullMissing)
    #expect(remote.tlsCA == "/etc/docker/ca.pem")
    #expect(remote.tlsCertificate == "/etc/docker/cert.pem")
    #expect(remote.tlsKey == "/etc/docker/key.pem")
    #expect(try parse("runtime: {type: process}\n").get().runtime == .process)
  }

  @Test func runtimeMistakesAreLocated() {
    #expect(
      errors("runtime: {type: docker, pull: always}\n")
        == "agent.yaml:2:31: error: unknown pull policy 'always' (expected never or missing)")
    #expect(
      errors("runtime: {type: docker, socket: 'http://h:2375'}\n")
        == "agent.yaml:2:33: error: 'runtime.socket' must be a socket path, unix://PATH or tcp://HOST:PORT")
    #expect(
      errors("runtime: {type: docker, tls: {ca: /ca.pem}}\n")
        == "agent.yaml:2:30: error: 'runtime.tls' needs a tcp:// socket")
    #expect(
      errors("runtime: {type: docker, socket: 'tcp://h:2376', tls: {cert: /c.pem}}\n")
        == "agent.yaml:2:54: error: 'runtime.tls' needs both 'cert' and 'key', or neither")
    #expect(
      errors("runtime: {type: process, socket: /x.sock}\n").contains("'runtime.socket' is for the docker runtime"))
    #expect(errors("runtime: {type: podman}\n").contains("unknown runtime type 'podman' (expected process or docker)"))
  }
}
