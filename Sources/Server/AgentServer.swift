import Foundation
import Hummingbird
import Logging
import ModelOpsCore
import Reconciler

/// The HTTP side of `agent run` (SPEC §7): health, readiness, Prometheus metrics, and the API.
public enum AgentServer {
  /// The application, a `Service` to run in the agent's service group.
  /// - Parameter token: when set, every `/api` route needs `Authorization: Bearer <token>`.
  public static func application(
    state: DaemonState, listen: ListenAddress, token: String?, api calls: AgentAPI? = nil,
    webhookSecret: String? = nil, logger: Logger
  ) -> some ApplicationProtocol {
    let router = Router()
    router.get("healthz") { _, _ in text("ok\n") }
    router.get("readyz") { _, _ in
      await state.ready ? text("ready\n") : text("not ready: the first cycle has not finished\n", .serviceUnavailable)
    }
    router.get("metrics") { _, _ in
      // The head's validity as `agent status` says it: the source's, known before the next pass.
      var body = await metrics(state, invalidHead: calls.map { $0.source().invalidHead != nil })
      if let calls { body += await onOwnThread { calls.metrics() } }
      return text(body, contentType: "text/plain; version=0.0.4")
    }
    let api = router.group("api/v1")
    api.post("sync") { request, _ in
      guard authorised(request, token) else { return text("missing or wrong bearer token\n", .unauthorized) }
      state.requestSync()
      return text("{\"status\":\"sync requested\"}\n", .accepted, contentType: "application/json")
    }
    if let calls {
      addAPIRoutes(api, calls, token: token)
      // Alertmanager sends the API token as a bearer (`http_config.authorization` of its receiver).
      router.post("hooks/alertmanager") { request, _ in
        guard authorised(request, token) else { return unauthorised }
        let body = try await request.body.collect(upTo: AlertmanagerPayload.maxBytes)
        let payload: AlertmanagerPayload
        do {
          payload = try AlertmanagerPayload.decode(Data(buffer: body))
        } catch {
          return json(try encode(["error": "\(error)"]), .badRequest)
        }
        let outcome = await onOwnThread { calls.alerts(payload) }
        if outcome.fired { state.wake() }
        return json(try encode(["alerts": payload.alerts.count, "matched": outcome.matched]))
      }
    }
    router.post("hooks/git") { request, _ in
      // The signature is checked over the raw body before anything in it is read.
      let body = try await request.body.collect(upTo: 1 << 20)
      guard let secret = webhookSecret else {
        return json(#"{"error":"webhooks.git is not configured on this agent"}"#, .notFound)
      }
      guard GitWebhook.verify(headers: request.headers, body: Data(buffer: body), secret: secret) else {
        return json(#"{"error":"missing or wrong signature"}"#, .unauthorized)
      }
      state.requestSync()
      return json(#"{"status":"sync requested"}"#, .accepted)
    }
    return Application(
      router: router, configuration: .init(address: .hostname(listen.host, port: listen.port)), logger: logger)
  }

  static func text(_ body: String, _ status: HTTPResponse.Status = .ok, contentType: String = "text/plain")
    -> Response
  {
    Response(
      status: status, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: body)))
  }

  /// Compares the bearer token in constant time, so its bytes cannot be guessed by timing.
  static func authorised(_ request: Request, _ token: String?) -> Bool {
    guard let token else { return true }
    guard let presented = bearer(request) else { return false }
    return constantTimeEqual(presented, token)
  }

  /// The token of `Authorization: Bearer TOKEN`; the scheme is case-insensitive (RFC 9110 §11.1).
  static func bearer(_ request: Request) -> String? {
    guard let header = request.headers[.authorization], let space = header.firstIndex(of: " "),
      header[..<space].lowercased() == "bearer"
    else { return nil }
    return header[header.index(after: space)...].trimmingCharacters(in: .whitespaces)
  }

  /// The agent's own metrics, Prometheus text format, all named `modelops_*`.
  static func metrics(_ state: DaemonState, invalidHead: Bool? = nil) async -> String {
    let last = await state.last
    var out = ""
    func metric(_ name: String, _ type: String, _ help: String, _ value: String, labels: String = "") {
      out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name)\(labels) \(value)\n"
    }
    metric("modelops_reconcile_cycles_total", "counter", "Reconcile cycles finished.", "\(await state.cycles)")
    metric(
      "modelops_reconcile_failed_cycles_total", "counter", "Cycles with a failed action or fetch.",
      "\(await state.failedCycles)")
    metric(
      "modelops_manifest_parses_total", "counter", "Times the manifests were parsed (unchanged trees are not).",
      "\(last.parses)")
    metric("modelops_last_cycle_seconds", "gauge", "Duration of the last cycle.", String(format: "%.6f", last.seconds))
    metric("modelops_ready", "gauge", "1 once the first cycle has finished.", await state.ready ? "1" : "0")
    metric(
      "modelops_head_invalid", "gauge", "1 when the newest commit's manifests are invalid.",
      (invalidHead ?? (last.invalidHead != nil)) ? "1" : "0")
    if let commit = last.reconciled {
      metric(
        "modelops_reconciled_commit_info", "gauge", "The commit being reconciled.", "1",
        labels: "{commit=\"\(commit)\"}")
    }
    return out
  }
}

/// Verifies a push webhook's origin: GitHub and Gitea sign the body with HMAC-SHA256
/// (`X-Hub-Signature-256: sha256=<hex>`, Gitea also `X-Gitea-Signature: <hex>`); GitLab sends
/// the secret itself in `X-Gitlab-Token`. Compared in constant time.
enum GitWebhook {
  static func verify(headers: HTTPFields, body: Data, secret: String) -> Bool {
    let expected = SHA256.hmacHex(key: Array(secret.utf8), message: body)
    if let header = value(headers, "x-hub-signature-256") {
      return header.hasPrefix("sha256=")
        && constantTimeEqual(String(header.dropFirst("sha256=".count)).lowercased(), expected)
    }
    if let header = value(headers, "x-gitea-signature") {
      return constantTimeEqual(header.lowercased(), expected)
    }
    if let header = value(headers, "x-gitlab-token") {
      return constantTimeEqual(header, secret)
    }
    return false
  }

  private static func value(_ headers: HTTPFields, _ lowercasedName: String) -> String? {
    headers.first { $0.name.canonicalName == lowercasedName }?.value
  }
}
