import Drivers
import Foundation
import Testing

/// A canary's mirror step on the built binary, with real replicas: while clients get only the
/// stable version's answers, the router compares the new version's answers to the same requests.
/// A version whose labels disagree on a third of the inputs is rejected by its analysis (an
/// `agreement` monitor) and never passes a gate on `agreement`; one that agrees is promoted and
/// passes the gate.
@Suite struct ShadowTests {
  /// The version that answered one prediction for input `n`, or nil.
  static func predict(_ port: Int, _ n: Int) -> Int? {
    guard
      let response = try? HTTPClient.request(
        "POST", "http://127.0.0.1:\(port)/predict", headers: ["Content-Type": "application/json"],
        body: Data(#"{"features": [\#(n % 30 - 15), 0.5, -0.3, 1]}"#.utf8), timeout: 5),
      response.status == 200
    else { return nil }
    return response.headers["x-model-version"].flatMap { Int($0) }
  }

  /// The quickstart, changed so that a training param `skew: "1"` makes a version flip its label
  /// for every input whose first feature is a multiple of 3 (a third of `predict`'s inputs).
  static func skewableQuickstart() throws -> (ExampleRepository, listen: Int) {
    let repo = try ExampleRepository(example: "quickstart")
    try repo.edit("training/train.py") {
      $0.replacingOccurrences(
        of: "    json.dump(model, f, indent=2)",
        with: "    model[\"skew\"] = params.get(\"skew\") == \"1\"\n    json.dump(model, f, indent=2)")
    }
    try repo.edit("serving/serve.py") {
      $0.replacingOccurrences(
        of: #""label": int(p >= 0.5)"#,
        with: #""label": int(p >= 0.5) ^ int(bool(MODEL.get("skew")) and int(features[0]) % 3 == 0)"#)
    }
    try repo.edit("manifests/deploy/iris-api.yaml") {
      $0.replacingOccurrences(
        of: "monitors: [iris-api-errors]", with: "monitors: [iris-api-errors, iris-api-agreement]")
    }
    try repo.edit("manifests/models/iris.yaml") {
      $0.replacingOccurrences(
        of: "  retain: 10",
        with:
          "    trusted:\n      policy: latest-passing\n      gates:\n        - {metric: agreement, min: 0.97}\n  retain: 10"
      )
    }
    try repo.scratch.write(
      "manifests/monitors/iris-api-agreement.yaml",
      """
      apiVersion: modelops/v1
      kind: Monitor
      metadata: {name: iris-api-agreement}
      spec:
        deployment: iris-api
        source: {router: {interval: 1s}}
        metric: {agreement: {}}
        window: 20s
        threshold: {min: 0.9}
        actions: [rollback]

      """)
    let listen = try repo.listenOnFreePort(
      canarySteps: """
              - {mirror: 100, pause: 8s}
              - {weight: 50, pause: 2s}
            compare: {field: label}

        """)
    return (repo, listen)
  }

  struct Version: Decodable {
    var version: Int
    var metrics: [String: Double]
    var rejectedReason: String?
    var aliases: [String]
  }

  @Test func aVersionThatDisagreesIsRejectedAndOneThatAgreesIsPromoted() throws {
    let (repo, listen) = try Self.skewableQuickstart()
    let (config, api) = try repo.localAgentConfig()
    let agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    let versions = { () -> [Int: Version] in
      let json = (try? run(agentBinary(), ["models", "iris-classifier", "--state", repo.state, "--format", "json"]))?
        .stdout
      let list = (try? JSONDecoder().decode([Version].self, from: Data((json ?? "[]").utf8))) ?? []
      return Dictionary(list.map { ($0.version, $0) }) { a, _ in a }
    }
    let status = {
      (try? run(agentBinary(), ["status", "--wide", "--server", "http://127.0.0.1:\(api)"]).stdout) ?? ""
    }
    #expect(agent.waitUntil(120) { Self.predict(listen, 0) == 1 }, "\(log())")

    // v2 disagrees on a third of the labels: mirrored, judged, rolled back and rejected, while
    // every client answer came from v1.
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "7""#, with: #"seed: "7", skew: "1""#)
    }
    try repo.commit("a version that flips a third of its labels")
    var answered: [Int?] = []
    var shown = ""
    #expect(
      agent.waitUntil(180) {
        answered += (0..<15).map { Self.predict(listen, answered.count + $0) }
        if shown.isEmpty, case let text = status(), text.contains("mirroring") { shown = text }
        return versions()[2]?.rejectedReason != nil
      }, "\(log())")
    #expect(Set(answered) == [1], "a client got an answer other than v1's: \(Set(answered))")
    #expect(shown.contains("mirroring 100% of requests to"), "status during the mirror step: \(shown)")
    let rejected = versions()[2]
    #expect(rejected?.rejectedReason?.contains("iris-api-agreement") == true, "\(String(describing: rejected))")
    let disagreeing = rejected?.metrics["agreement"] ?? -1
    #expect(disagreeing > 0.5 && disagreeing < 0.8, "v2's recorded agreement: \(disagreeing)")

    // v3 (the same weights as v1) agrees: mirrored, then weighted, then all traffic; the gate on
    // `agreement` passes it (it never passed v2).
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"skew: "1""#, with: #"skew: "0""#)
    }
    try repo.commit("a version that agrees")
    var measured = ""
    #expect(
      agent.waitUntil(180) {
        if measured.isEmpty, case let text = status(), text.contains("(agreement ") { measured = text }
        return (0..<10).map { Self.predict(listen, $0) }.allSatisfy { $0 == 3 }
      }, "\(log())\n\(status())")
    // `agent status` showed the agreement measured so far while the step ran.
    #expect(measured.contains("mirroring 100% of requests to v3"), "\(measured)")
    #expect(measured.contains("(agreement 1.000 over "), "\(measured)")
    let promoted = versions()[3]
    #expect(promoted?.rejectedReason == nil && promoted?.metrics["agreement"] == 1, "\(String(describing: promoted))")
    #expect(agent.waitUntil(30) { versions()[3]?.aliases.contains("trusted") == true }, "\(versions())")
    #expect(versions()[2]?.aliases.contains("trusted") == false)
    let agreed = #"modelops_router_mirrored_total{deployment="iris-api",version="3",result="agreed"}"#
    #expect((agent.metric(agreed) ?? 0) > 0)
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }
}
