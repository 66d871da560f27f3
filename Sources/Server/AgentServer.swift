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
    state: DaemonState, listen: ListenAddress, token: String?, api calls: AgentAPI? = nil, logger: Logger
  ) -> some ApplicationProtocol {
    let router = Router()
    router.get("healthz") { _, _ in text("ok\n") }
    router.get("readyz") { _, _ in
      await state.ready ? text("ready\n") : text("not ready: the first cycle has not finished\n", .serviceUnavailable)
    }
    router.get("metrics") { _, _ in
      var body = await metrics(state)
      if let calls { body += await ReconcileLoop.onOwnThread { calls.metrics() } }
      return text(body, contentType: "text/plain; version=0.0.4")
    }
    let api = router.group("api/v1")
    api.post("sync") { request, _ in
      guard authorised(request, token) else { return text("missing or wrong bearer token\n", .unauthorized) }
      await state.requestSync()
      return text("{\"status\":\"sync requested\"}\n", .accepted, contentType: "application/json")
    }
    if let calls { addAPIRoutes(api, calls, token: token) }
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
    guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return false }
    let given = Array(header.dropFirst("Bearer ".count).utf8)
    let expected = Array(token.utf8)
    var difference = given.count ^ expected.count
    for index in 0..<max(given.count, expected.count) {
      let a = index < given.count ? given[index] : 0
      let b = index < expected.count ? expected[index] : 0
      difference |= Int(a ^ b)
    }
    return difference == 0
  }

  /// The agent's own metrics, Prometheus text format, all named `modelops_*`.
  static func metrics(_ state: DaemonState) async -> String {
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
      last.invalidHead == nil ? "0" : "1")
    if let commit = last.reconciled {
      metric(
        "modelops_reconciled_commit_info", "gauge", "The commit being reconciled.", "1",
        labels: "{commit=\"\(commit)\"}")
    }
    return out
  }
}
