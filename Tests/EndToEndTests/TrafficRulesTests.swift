import Drivers
import Foundation
import Testing

/// A canary's traffic rules on the built binary, with real replicas of two model versions: an A/B
/// header match sends matching requests to the new version and no other; sticky clients keep
/// their version within a step and never go back as the weight grows.
@Suite struct TrafficRulesTests {
  /// The version that answered one prediction sent with `headers`, or nil.
  static func predict(_ port: Int, headers: [String: String] = [:]) -> Int? {
    guard
      let response = try? HTTPClient.request(
        "POST", "http://127.0.0.1:\(port)/predict",
        headers: headers.merging(["Content-Type": "application/json"]) { a, _ in a },
        body: Data(#"{"features": [120, 3, 40, 2]}"#.utf8), timeout: 5),
      response.status == 200
    else { return nil }
    return response.headers["x-model-version"].flatMap { Int($0) }
  }

  /// The version each user's requests reached; nil for a user whose answers differed.
  static func versions(_ port: Int, users: [String], requests: Int = 3) -> [String: Int?] {
    var seen: [String: Int?] = [:]
    for user in users {
      let answers = Set((0..<requests).map { _ in predict(port, headers: ["X-User": user]) })
      seen[user] = answers.count == 1 ? answers.first ?? nil : nil
    }
    return seen
  }

  @Test func aHeaderMatchReachesOnlyTheNewVersionAndStickyClientsNeverFlip() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort(
      canarySteps: """
              - {weight: 30, pause: 10m}
              - {weight: 60, pause: 10m}
            match:
              - {header: X-Canary, value: always}

        """)
    let (config, api) = try repo.localAgentConfig()
    let agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    #expect(agent.waitUntil(120) { Self.predict(listen) == 1 }, "\(log())")
    #expect(agent.waitUntil(60) { agent.healthyReplicas("iris-api", version: 1) == 2 }, "\(log())")

    // v2 is trained and held at its first step (30 %): only requests with the header reach it.
    try repo.edit("manifests/pipelines/iris-train.yaml") { $0.replacing(#/seed: "\d+"/#, with: "seed: \"8\"") }
    try repo.commit("seed 8")
    #expect(agent.waitUntil(120) { Self.predict(listen, headers: ["X-Canary": "always"]) == 2 }, "\(log())")
    let matched = (0..<20).map { _ in Self.predict(listen, headers: ["X-Canary": "always"]) }
    #expect(matched.allSatisfy { $0 == 2 }, "\(matched)")
    let others = (0..<60).map { _ in Self.predict(listen, headers: ["X-Canary": "sometimes"]) }
    #expect(others.allSatisfy { $0 == 1 }, "\(others)")

    // The same canary made sticky by a header (a strategy change is not a new revision).
    try repo.edit("manifests/deploy/iris-api.yaml") {
      $0.replacingOccurrences(
        of: "    match:\n      - {header: X-Canary, value: always}\n", with: "    sticky: {header: X-User}\n")
    }
    try repo.commit("sticky by X-User")
    #expect(agent.waitUntil(30) { (0..<20).contains { _ in Self.predict(listen) == 2 } }, "\(log())")
    let users = (0..<30).map { "user-\($0)" }
    let atFirstStep = Self.versions(listen, users: users)
    #expect(atFirstStep.values.allSatisfy { $0 != nil }, "a user flipped within the step: \(atFirstStep)")
    let early = Set(atFirstStep.filter { $0.value == 2 }.keys)
    #expect(!early.isEmpty && early.count < users.count, "\(early.count) of \(users.count) users on v2 at 30 %")

    // `promote` ends the first pause: at 60 % more users reach v2, and none of the early ones leaves.
    let promote = try HTTPClient.request(
      "POST", "http://127.0.0.1:\(api)/api/v1/deployments/iris-api/promote", body: Data(), timeout: 5)
    #expect(promote.status < 300, "\(String(decoding: promote.body, as: UTF8.self))")
    var atSecondStep: [String: Int?] = [:]
    #expect(
      agent.waitUntil(90) {
        atSecondStep = Self.versions(listen, users: users, requests: 1)
        return atSecondStep.filter { $0.value == 2 }.count > early.count
      }, "\(log())")
    let settled = Self.versions(listen, users: users)
    #expect(settled.values.allSatisfy { $0 != nil }, "a user flipped within the step: \(settled)")
    #expect(early.allSatisfy { settled[$0] == 2 }, "an early user went back to v1: \(settled)")
    #expect(agent.terminate(within: 20) == 0, "\(log())")
  }
}
