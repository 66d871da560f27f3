import Drivers
import Foundation
import Logging
import ModelOpsCore
import Reconciler
import Testing

@testable import Server

/// An HTTP server (python3's standard library) that answers every request with its method, path,
/// `X-Forwarded-For` and body: what the router forwarded, as the replica saw it.
final class EchoReplica {
  let process = Process()
  let port: Int

  init() throws {
    port = try FreePort.pick()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      "python3", "-c",
      """
      import http.server, sys
      class H(http.server.BaseHTTPRequestHandler):
          protocol_version = "HTTP/1.1"
          def log_message(self, *args): pass
          def answer(self):
              body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
              head = f"{self.command} {self.path} {self.headers.get('X-Forwarded-For', '-')}\\n".encode()
              self.send_response(200)
              self.send_header("Content-Length", str(len(head) + len(body)))
              self.end_headers()
              self.wfile.write(head + body)
          do_GET = do_POST = do_PUT = answer
      http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
      """,
      String(port),
    ]
    try process.run()
    for _ in 0..<100 {
      if (try? HTTPClient.get("http://127.0.0.1:\(port)/", timeout: 1)) != nil { return }
      usleep(50_000)
    }
    throw RunError("the echo replica did not start")
  }

  // SIGKILL: the test runner blocks SIGTERM, and children inherit the blocked mask.
  deinit {
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
  }
}

@Suite(.serialized) struct RouterTests {
  let router = ProxyRouter(maxBody: 64 << 10, logger: Logger(label: "test"))

  func route(
    _ listen: Int, stable: [EchoReplica] = [], canary: [EchoReplica] = [], weight: Int = 0, preview: Int? = nil
  ) -> DeploymentRoute {
    var route = DeploymentRoute(
      listen: ListenAddress(host: "127.0.0.1", port: listen),
      previewListen: preview.map { ListenAddress(host: "127.0.0.1", port: $0) })
    route.stable = stable.map { .init(port: $0.port, version: 1, replica: "s\($0.port)") }
    route.canary = canary.map { .init(port: $0.port, version: 2, replica: "c\($0.port)") }
    route.canaryWeight = weight
    return route
  }

  func send(
    _ port: Int, _ method: String = "GET", path: String = "/predict", headers: [String: String] = [:],
    body: Data? = nil
  ) throws -> HTTPResponse {
    try HTTPClient.request(method, "http://127.0.0.1:\(port)\(path)", headers: headers, body: body, timeout: 5)
  }

  @Test func forwardsMethodPathAndBodyIntactAndNamesTheVersion() throws {
    let replica = try EchoReplica()
    defer { withExtendedLifetime(replica) {} }
    let listen = try FreePort.pick()
    router.update(["api": route(listen, stable: [replica])])
    defer { router.close() }
    let body = Data((0..<40_000).map { UInt8($0 % 251) })
    let response = try send(listen, "POST", path: "/predict?x=1", body: body)
    #expect(response.status == 200)
    #expect(response.headers["x-model-version"] == "1")
    let head = "POST /predict?x=1 127.0.0.1\n"
    #expect(response.body.prefix(head.utf8.count) == Data(head.utf8))
    #expect(response.body.dropFirst(head.utf8.count) == body)
  }

  @Test func answers503WithoutAHealthyReplicaAnd413ForABodyTooLarge() throws {
    let listen = try FreePort.pick()
    router.update(["api": route(listen)])
    defer { router.close() }
    let empty = try send(listen)
    #expect(empty.status == 503)
    #expect(String(decoding: empty.body, as: UTF8.self).contains("no healthy replica of api"))
    let replica = try EchoReplica()
    defer { withExtendedLifetime(replica) {} }
    router.update(["api": route(listen, stable: [replica])])
    #expect(try send(listen, "POST", body: Data(count: 65 << 10)).status == 413)
    #expect(try send(listen, "POST", body: Data(count: 1 << 10)).status == 200, "the listener keeps serving")

    // Every answer is counted by version and status class, the router's own under `none`; the
    // exposition parses as Prometheus text.
    let samples = try PrometheusText.samples(router.metricsText())
    func value(_ name: String, _ labels: [String: String]) -> Double? {
      samples.first { sample in
        sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value }
      }?.value
    }
    let requests = "modelops_router_requests_total"
    #expect(value(requests, ["deployment": "api", "version": "none", "code": "5xx"]) == 1)
    #expect(value(requests, ["deployment": "api", "version": "none", "code": "4xx"]) == 1)
    #expect(value(requests, ["deployment": "api", "version": "1", "code": "2xx"]) == 1)
    let count = value("modelops_router_request_duration_seconds_count", ["deployment": "api", "version": "1"])
    #expect(count == 1)
    #expect(value("modelops_router_request_duration_seconds_bucket", ["version": "1", "le": "+Inf"]) == 1)
  }

  @Test func aReplicaThatRefusesTheConnectionIs502() throws {
    let listen = try FreePort.pick()
    let closed = try FreePort.pick()
    var table = route(listen)
    table.stable = [.init(port: closed, version: 1, replica: "gone")]
    router.update(["api": table])
    defer { router.close() }
    #expect(try send(listen).status == 502)
  }

  @Test func splitsByWeightAndThePreviewListenerReachesOnlyTheNewVersion() throws {
    let old = try EchoReplica()
    let new = try EchoReplica()
    defer { withExtendedLifetime((old, new)) {} }
    let listen = try FreePort.pick()
    let preview = try FreePort.pick()
    func versions(_ port: Int, _ n: Int) throws -> [String] {
      try (0..<n).map { _ in try send(port).headers["x-model-version"] ?? "-" }
    }
    router.update(["api": route(listen, stable: [old], canary: [new], weight: 0, preview: preview)])
    defer { router.close() }
    #expect(Set(try versions(listen, 20)) == ["1"])
    #expect(Set(try versions(preview, 10)) == ["2"])
    router.update(["api": route(listen, stable: [old], canary: [new], weight: 100, preview: preview)])
    #expect(Set(try versions(listen, 20)) == ["2"])
    router.update(["api": route(listen, stable: [old], canary: [new], weight: 30, preview: preview)])
    let split = try versions(listen, 200)
    let share = split.filter { $0 == "2" }.count
    #expect(share > 30 && share < 90, "\(share) of 200 on the canary at weight 30")
    // A deployment removed from the table closes its listeners.
    router.update([:])
    #expect(throws: HTTPError.self) { try send(listen) }
    #expect(throws: HTTPError.self) { try send(preview) }
    #expect(router.addresses.isEmpty)
  }

  @Test func aHeaderOrCookieMatchReachesTheNewVersionAndNothingElseDoes() throws {
    let old = try EchoReplica()
    let new = try EchoReplica()
    defer { withExtendedLifetime((old, new)) {} }
    let listen = try FreePort.pick()
    var table = route(listen, stable: [old], canary: [new], weight: 50)
    table.routing = CanaryRouting(match: [
      TrafficMatch(key: .header("X-Canary"), value: "always"), TrafficMatch(key: .cookie("beta"), value: "1"),
    ])
    router.update(["api": table])
    defer { router.close() }
    func versions(_ headers: [String: String], _ n: Int = 20) throws -> Set<String> {
      Set(try (0..<n).map { _ in try send(listen, headers: headers).headers["x-model-version"] ?? "-" })
    }
    // At weight 50 with matches, only matching requests reach the new version.
    #expect(try versions([:], 40) == ["1"])
    #expect(try versions(["X-Canary": "always"]) == ["2"])
    #expect(try versions(["x-canary": "always"]) == ["2"])  // header names are case-insensitive
    #expect(try versions(["X-Canary": "sometimes"]) == ["1"])
    #expect(try versions(["Cookie": "session=abc; beta=1"]) == ["2"])
    #expect(try versions(["Cookie": "beta=10; other=1"]) == ["1"])
    #expect(try versions(["Cookie": "notbeta=1"]) == ["1"])
  }

  @Test func stickyClientsStayOnOneVersionAndNeverGoBackAsTheWeightGrows() throws {
    let old = try EchoReplica()
    let new = try EchoReplica()
    defer { withExtendedLifetime((old, new)) {} }
    let listen = try FreePort.pick()
    defer { router.close() }
    let users = (0..<40).map { "user-\($0)" }
    var seen: [String: [String]] = [:]
    for weight in [10, 30, 60] {
      var table = route(listen, stable: [old], canary: [new], weight: weight)
      table.routing = CanaryRouting(sticky: .header("X-User"))
      router.update(["api": table])
      var onNew = 0
      for user in users {
        let answers = Set(
          try (0..<4).map { _ in try send(listen, headers: ["X-User": user]).headers["x-model-version"] ?? "-" })
        #expect(answers.count == 1, "\(user) flipped within one step at weight \(weight): \(answers)")
        let version = answers.first ?? "-"
        if version == "2" { onNew += 1 }
        if seen[user]?.last == "2" { #expect(version == "2", "\(user) went back to the stable version") }
        seen[user, default: []].append(version)
      }
      // The buckets spread the clients: some on each side, about the weight's share on the new one.
      #expect(onNew > 0 && onNew < users.count, "\(onNew) of \(users.count) users on the new version at \(weight)")
    }
  }
}
