import Drivers
import Foundation
import ModelOpsTesting
import Testing

/// `tcp://` with TLS: podman's service does not serve TLS, so a python HTTPS server stands in for
/// the engine's TLS front (as `dockerd --tlsverify` has): it requires a client certificate signed
/// by its CA and answers `/v1.41/version`. Certificates are made with the openssl CLI.
@Suite struct DockerTLSTests {
  static let server = """
    import http.server, json, ssl, sys
    folder, port = sys.argv[1], int(sys.argv[2])
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"Version": "tls-ok", "Path": self.path}).encode()
            self.send_response(200 if self.path == "/v1.41/version" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder + "/server.pem", folder + "/server.key")
    context.load_verify_locations(folder + "/ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()
    """

  func openssl(_ folder: String, _ arguments: String) throws {
    let peer = try Peer(["/bin/sh", "-c", "openssl " + arguments], in: folder, log: folder + "/openssl.log")
    guard peer.child.wait(until: Date().addingTimeInterval(30)) == .code(0) else {
      throw FixtureError("openssl \(arguments): \(peer.output)")
    }
  }

  @Test func aTCPEngineWithTLSIsReachedWithTheClientCertificateOnly() throws {
    let folder = try Folder()
    let f = folder.path
    try openssl(f, "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca")
    for (name, extra) in [("server", "-addext subjectAltName=IP:127.0.0.1"), ("client", "")] {
      try openssl(f, "req -newkey rsa:2048 -nodes -keyout \(name).key -out \(name).csr -subj /CN=\(name) \(extra)")
      let ext = name == "server" ? "-copy_extensions copy" : ""
      try openssl(
        f, "x509 -req -in \(name).csr -CA ca.pem -CAkey ca.key -CAcreateserial -out \(name).pem -days 1 \(ext)")
    }
    try Data(Self.server.utf8).write(to: URL(fileURLWithPath: f + "/server.py"))
    let port = try FreePort.pick()
    let server = try Peer(["/usr/bin/python3", f + "/server.py", f, "\(port)"], in: f, log: f + "/server.log")
    defer { server.stop() }
    for _ in 0..<100 where !server.output.contains("ready") { usleep(50_000) }

    let tls = TLSFiles(ca: f + "/ca.pem", certificate: f + "/client.pem", key: f + "/client.key")
    #expect(try DockerEngine(address: "tcp://127.0.0.1:\(port)", tls: tls).version() == "tls-ok")
    // Without the client certificate the server refuses the handshake.
    #expect(throws: DockerError.self) {
      try DockerEngine(address: "tcp://127.0.0.1:\(port)", tls: TLSFiles(ca: f + "/ca.pem")).version()
    }
    // Without the CA the server's certificate is not trusted.
    #expect(throws: DockerError.self) {
      try DockerEngine(
        address: "tcp://127.0.0.1:\(port)", tls: TLSFiles(certificate: f + "/client.pem", key: f + "/client.key")
      ).version()
    }
  }
}
