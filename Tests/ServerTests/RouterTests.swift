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
      import http.server, sys, threading
      release = threading.Event()
      class H(http.server.BaseHTTPRequestHandler):
          protocol_version = "HTTP/1.1"
          def log_message(self, *args): pass
          def stream(self):
              # Half an answer, then the rest once /release is called (at most 20 s later).
              self.send_response(200)
              self.send_header("Transfer-Encoding", "chunked")
              self.end_headers()
              self.wfile.write(b"6\\r\\nfirst\\n\\r\\n")
              self.wfile.flush()
              release.wait(20)
              self.wfile.write(b"5\\r\\nrest\\n\\r\\n0\\r\\n\\r\\n")
          def small(self, text):
              self.send_response(200)
              self.send_header("Content-Length", str(len(text)))
              self.end_headers()
              self.wfile.write(text)
          def answer(self):
              if self.path == "/stream": return self.stream()
              if self.path == "/release":
                  release.set()
                  return self.small(b"released\\n")
              if self.path == "/peer": return self.small(f"{self.client_address[1]}\\n".encode())
              if self.path == "/first-line":
                  # Answers with the body's first line as soon as it arrived; the rest is not read.
                  self.close_connection = True
                  return self.small(b"got " + self.rfile.readline())
              if self.headers.get("Transfer-Encoding") == "chunked":
                  body = b""
                  while True:
                      size = int(self.rfile.readline().strip(), 16)
                      body += self.rfile.read(size)
                      self.rfile.readline()
                      if size == 0: break
              else:
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

  /// Serve applications share one proxy address and are told apart by their route prefix: the
  /// router puts each revision's prefix before the path, whichever revision a request goes to.
  @Test func backendsOnOneAddressAreToldApartByTheirPathPrefix() throws {
    let proxy = try EchoReplica()
    defer { withExtendedLifetime(proxy) {} }
    let listen = try FreePort.pick()
    var table = DeploymentRoute(listen: ListenAddress(host: "127.0.0.1", port: listen))
    table.stable = [.init(port: proxy.port, version: 1, replica: "app-v1", pathPrefix: "/modelops-api-v1-aaaa")]
    table.canary = [.init(port: proxy.port, version: 2, replica: "app-v2", pathPrefix: "/modelops-api-v2-bbbb")]
    table.canaryWeight = 50
    router.update(["api": table])
    defer { router.close() }
    var seen: [String: Int] = [:]
    for _ in 0..<40 {
      let response = try send(listen, "POST", path: "/predict?x=1", body: Data("{}".utf8))
      let line = String(decoding: response.body.prefix { $0 != 0x0a }, as: UTF8.self)
      let version = response.headers["x-model-version"] ?? "?"
      #expect(line == "POST /modelops-api-v\(version)-\(version == "1" ? "aaaa" : "bbbb")/predict?x=1 127.0.0.1")
      seen[version, default: 0] += 1
    }
    #expect((seen["1"] ?? 0) > 0 && (seen["2"] ?? 0) > 0, "\(seen)")
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

  /// Runs `body` with the router serving one echo replica on a free port.
  func withOneReplica(_ body: (_ listen: Int) throws -> Void) throws {
    let replica = try EchoReplica()
    defer { withExtendedLifetime(replica) {} }
    let listen = try FreePort.pick()
    router.update(["api": route(listen, stable: [replica])])
    defer { router.close() }
    try body(listen)
  }

  @Test func aResponseIsRelayedAsItArrivesNotWhenItEnds() throws {
    try withOneReplica { listen in
      // A raw client: the first half of the answer must arrive while the replica holds the rest.
      let client = try RawClient(port: listen)
      try client.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
      let firstHalf = client.read(until: "first\n", within: 10)
      #expect(firstHalf.contains("first\n"), "the router held the first half: \(firstHalf)")
      #expect(!firstHalf.contains("rest"))
      #expect(try send(listen, path: "/release").status == 200)
      #expect(client.read(until: "0\r\n\r\n", within: 10).contains("rest\n"))
    }
  }

  @Test func aRequestBodyReachesTheReplicaAsItIsSentNotWhenItEnds() throws {
    try withOneReplica { listen in
      // The client sends the head and the first line of a 60,000-byte body, then waits: the
      // replica must have the line (a router that buffers the body would still be waiting).
      let client = try RawClient(port: listen)
      try client.send("POST /first-line HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\nfirst line\n")
      let answer = client.read(until: "got first line\n", within: 10)
      #expect(answer.contains("got first line\n"), "the router held the body back: \(answer)")
    }
  }

  @Test func aChunkedRequestBodyIsForwardedWhole() throws {
    try withOneReplica { listen in
      let client = try RawClient(port: listen)
      try client.send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
      try client.send("6\r\n world\r\n0\r\n\r\n")
      let answer = client.read(until: "hello world", within: 10)
      #expect(answer.contains("POST /upload 127.0.0.1\nhello world"), "\(answer)")
      // A GET with a chunked body is framed as chunked too (an unframed body on a pooled
      // connection would be read by the replica as a next request).
      let get = try RawClient(port: listen)
      try get.send("GET /get HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
      let echoed = get.read(until: "hello", within: 10)
      #expect(echoed.contains("GET /get 127.0.0.1\nhello"), "\(echoed)")
      // A chunked body that grows past the limit while it streams: 413, the replica's side dropped.
      let big = try RawClient(port: listen)
      try big.send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
      let chunk = String(repeating: "x", count: 8 << 10)
      for _ in 0..<9 { try? big.send("2000\r\n\(chunk)\r\n") }
      #expect(big.read(until: "\r\n\r\n", within: 10).hasPrefix("HTTP/1.1 413"))
      #expect(try send(listen, path: "/peer").status == 200, "the listener keeps serving")
    }
  }

  @Test func aClientWaitingFor100ContinueGetsItOrA413AtOnce() throws {
    try withOneReplica { listen in
      // Nothing of the body is sent before `100 Continue` arrives (as curl does for large bodies).
      let client = try RawClient(port: listen)
      try client.send("POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
      #expect(client.read(until: "\r\n\r\n", within: 5).hasPrefix("HTTP/1.1 100 Continue"))
      try client.send("hello")
      let answer = client.read(until: "hello", within: 5)
      #expect(answer.hasPrefix("HTTP/1.1 200") && answer.contains("POST /up 127.0.0.1\nhello"), "\(answer)")
      // A body too large is refused before it is sent.
      let big = try RawClient(port: listen)
      try big.send(
        "POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: \(1 << 20)\r\n\r\n")
      #expect(big.read(until: "\r\n\r\n", within: 5).hasPrefix("HTTP/1.1 413"))
    }
  }

  @Test func replicaConnectionsArePooledAcrossClientConnections() throws {
    try withOneReplica { listen in
      // Each request on a client connection of its own: the replica sees at most one connection
      // per event loop of the router, not one per client connection.
      var peers: Set<String> = []
      for _ in 0..<20 {
        let client = try RawClient(port: listen)
        try client.send("GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let answer = client.read(until: "\n\n", within: 10)
        if let port = answer.components(separatedBy: "\r\n\r\n").last { peers.insert(port) }
      }
      #expect(
        !peers.isEmpty && peers.count <= ProcessInfo.processInfo.activeProcessorCount,
        "\(peers.count) replica connections for 20 clients: \(peers)")
    }
  }
}

/// A plain TCP client, to send requests in pieces and read answers as they come.
final class RawClient {
  let handle: FileHandle

  init(port: Int) throws {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw RunError("socket() failed") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else {
      close(fd)
      throw RunError("cannot connect to port \(port)")
    }
    var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
  }

  func send(_ text: String) throws { try handle.write(contentsOf: Data(text.utf8)) }

  /// What arrives until `marker` has been read, the peer closes, or `seconds` pass.
  func read(until marker: String, within seconds: Double) -> String {
    var received = Data()
    let deadline = Date().addingTimeInterval(seconds)
    var buffer = [UInt8](repeating: 0, count: 4096)
    while Date() < deadline, !String(decoding: received, as: UTF8.self).contains(marker) {
      let count = recv(handle.fileDescriptor, &buffer, buffer.count, 0)
      if count == 0 { break }
      if count > 0 { received.append(contentsOf: buffer[0..<count]) }
    }
    return String(decoding: received, as: UTF8.self)
  }
}
