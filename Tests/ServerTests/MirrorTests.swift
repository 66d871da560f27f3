import Drivers
import Foundation
import Logging
import ModelOpsCore
import Reconciler
import Testing

@testable import Server

/// A model server (python3's standard library) answering `POST /predict {"n": N}` with
/// `{"prediction": N / 2 + offset, "version": V}`. `skew`: every input with N % 3 == 0 gets a
/// prediction one higher (a third of the answers disagree). `hold`: every answer waits until
/// `GET /release` (or 20 s).
final class PredictingReplica {
  let process = Process()
  let port: Int

  init(version: Int, offset: Double = 0, skew: Bool = false, hold: Bool = false) throws {
    port = try FreePort.pick()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      "python3", "-c",
      """
      import http.server, json, sys, threading
      port, version, offset, skew, hold = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4] == "1", sys.argv[5] == "1"
      release = threading.Event()
      class H(http.server.BaseHTTPRequestHandler):
          protocol_version = "HTTP/1.1"
          def log_message(self, *args): pass
          def send(self, data):
              self.send_response(200)
              self.send_header("Content-Type", "application/json")
              self.send_header("Content-Length", str(len(data)))
              self.end_headers()
              self.wfile.write(data)
          def do_GET(self):
              if self.path == "/release": release.set()
              self.send(b"{}")
          def do_POST(self):
              n = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))["n"]
              if hold: release.wait(20)
              prediction = n / 2 + offset + (1 if skew and n % 3 == 0 else 0)
              self.send(json.dumps({"prediction": prediction, "version": version}).encode())
      http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
      """,
      String(port), String(version), String(offset), skew ? "1" : "0", hold ? "1" : "0",
    ]
    try process.run()
    for _ in 0..<100 {
      if (try? HTTPClient.get("http://127.0.0.1:\(port)/", timeout: 1)) != nil { return }
      usleep(50_000)
    }
    throw RunError("the predicting replica did not start")
  }

  func backend(_ version: Int) -> DeploymentRoute.Backend { .init(port: port, version: version, replica: "r\(port)") }

  // SIGKILL: the test runner blocks SIGTERM, and children inherit the blocked mask.
  deinit {
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
  }
}

/// A canary's mirror step at the router: clients get only stable answers, copies go to the new
/// version, and each pair of answers is counted as agreed, disagreed or dropped.
@Suite(.serialized) struct MirrorTests {
  let router = ProxyRouter(maxBody: 64 << 10, logger: Logger(label: "test"))

  func mirror(
    _ listen: Int, stable: PredictingReplica, shadow: DeploymentRoute.Backend, percent: Int = 100,
    compare: AnswerComparison = AnswerComparison(field: "prediction", tolerance: 0.01)
  ) {
    var route = DeploymentRoute(listen: ListenAddress(host: "127.0.0.1", port: listen))
    route.stable = [stable.backend(1)]
    route.canary = [shadow]
    route.mirror = percent
    route.routing = CanaryRouting(compare: compare)
    router.update(["api": route])
  }

  /// Sends predictions for `inputs` and returns the versions that answered.
  func predict(_ listen: Int, _ inputs: Range<Int>) throws -> Set<String> {
    Set(
      try inputs.map { n in
        let response = try HTTPClient.request(
          "POST", "http://127.0.0.1:\(listen)/predict", body: Data(#"{"n": \#(n)}"#.utf8), timeout: 10)
        #expect(response.status == 200)
        return response.headers["x-model-version"] ?? "-"
      })
  }

  /// The mirrored counts of version 2, once `expected` pairs have been counted (within 10 s).
  func counts(reaching expected: Int) -> [String: Int] {
    var counts: [String: Int] = [:]
    for _ in 0..<200 {
      counts = router.metrics.snapshot.first { $0.version == "2" }?.mirrored ?? [:]
      if counts.values.reduce(0, +) >= expected { break }
      usleep(50_000)
    }
    return counts
  }

  @Test func answersAreComparedByFieldWithinToleranceAndClientsGetOnlyStableOnes() throws {
    let stable = try PredictingReplica(version: 1)
    let close = try PredictingReplica(version: 2, offset: 0.004)
    let skewed = try PredictingReplica(version: 2, skew: true)
    defer { withExtendedLifetime((stable, close, skewed)) {} }
    let listen = try FreePort.pick()
    defer { router.close() }

    // Within the tolerance (and a different `version` field, not compared): every pair agrees.
    mirror(listen, stable: stable, shadow: close.backend(2))
    #expect(try predict(listen, 0..<30) == ["1"])
    #expect(counts(reaching: 30) == ["agreed": 30])

    // A third of the inputs skewed by one: those pairs disagree.
    mirror(listen, stable: stable, shadow: skewed.backend(2))
    #expect(try predict(listen, 0..<30) == ["1"])
    #expect(counts(reaching: 60) == ["agreed": 50, "disagreed": 10])

    // Compared whole (no field), the answers differ by their `version` field: all disagree.
    mirror(listen, stable: stable, shadow: close.backend(2), compare: AnswerComparison())
    #expect(try predict(listen, 0..<10) == ["1"])
    #expect(counts(reaching: 70) == ["agreed": 50, "disagreed": 20])

    // The agreement is what a `router` monitor and the rollout read.
    let text = RouterMetrics.exposition(router.metrics.snapshot)
    #expect(text.contains(#"modelops_router_mirrored_total{deployment="api",version="2",result="agreed"} 50"#))
    // Mirrored answers count as the new version's answers too (errorRate, latency).
    #expect(router.metrics.snapshot.first { $0.version == "2" }?.count == 70)
  }

  @Test func aSlowShadowIsDroppedAndNeverDelaysTheClient() throws {
    let stable = try PredictingReplica(version: 1)
    let slow = try PredictingReplica(version: 2, hold: true)
    defer { withExtendedLifetime((stable, slow)) {} }
    let listen = try FreePort.pick()
    defer { router.close() }
    mirror(listen, stable: stable, shadow: slow.backend(2))
    // Every client is answered while the shadow still holds every copy.
    #expect(try predict(listen, 0..<5) == ["1"])
    #expect(counts(reaching: 5) == ["dropped": 5], "the shadow was waited for, or its late answers compared")
    _ = try HTTPClient.get("http://127.0.0.1:\(slow.port)/release", timeout: 5)
  }

  @Test func aShadowThatCannotAnswerDisagreesAndAShareIsMirrored() throws {
    let stable = try PredictingReplica(version: 1)
    defer { withExtendedLifetime(stable) {} }
    let listen = try FreePort.pick()
    defer { router.close() }
    // Nothing listens on the shadow's port: the new version failed where the stable one answered.
    mirror(listen, stable: stable, shadow: .init(port: try FreePort.pick(), version: 2, replica: "gone"))
    #expect(try predict(listen, 0..<4) == ["1"])
    #expect(counts(reaching: 4) == ["disagreed": 4])

    // At 30 %, about that share of the requests is copied.
    let same = try PredictingReplica(version: 2)
    defer { withExtendedLifetime(same) {} }
    mirror(listen, stable: stable, shadow: same.backend(2), percent: 30)
    #expect(try predict(listen, 0..<200) == ["1"])
    usleep(500_000)
    let copied = counts(reaching: 4)["agreed"] ?? 0
    #expect(copied > 30 && copied < 100, "\(copied) of 200 requests mirrored at 30 %")
  }
}
