import Foundation
import Hummingbird
import ModelOpsCore
import Reconciler
import StateStore

/// What the `/api/v1` routes ask of the running agent; wired by `agent run`. Each call may block
/// (SQLite, git), so the server makes it on a thread of its own.
public struct AgentAPI: Sendable {
  public var status: @Sendable () throws -> [ResourceStatus]
  /// The head, the commit reconciled, and why they differ (`GET /api/v1/source`).
  public var source: @Sendable () -> SourceReport = { SourceReport() }
  /// The plan, as `agent plan --format json` prints it, at a ref (nil: the reconciled commit).
  public var plan: @Sendable (_ ref: String?) throws -> String
  public var events: @Sendable (_ name: String?, _ limit: Int) throws -> [EventRecord]
  public var models: @Sendable (_ name: String?) throws -> [VersionRecord]
  public var run: @Sendable (_ id: String) throws -> RunRecord?
  /// Asks for a rollback of a declared deployment; false when no such deployment is declared.
  public var rollback: @Sendable (_ deployment: String, _ toVersion: Int?) async throws -> Bool
  /// Approves the switch of a blue-green rollout waiting on its preview; false when none waits.
  public var promote: @Sendable (_ deployment: String) async throws -> Bool
  /// More Prometheus text for `/metrics` (replicas, rollouts).
  public var metrics: @Sendable () -> String
  /// Alerts from Alertmanager's webhook: how many matched a monitor, and whether one started firing.
  public var alerts: @Sendable (AlertmanagerPayload) -> (matched: Int, fired: Bool) = { _ in (0, false) }
  /// A run's output (`agent logs`); nil when there is no such run or it has no log.
  public var runLog: @Sendable (_ id: String) throws -> String? = { _ in nil }
  /// `agent retry NAME`: what was retried (empty: nothing to retry).
  public var retry: @Sendable (_ name: String) throws -> [String] = { _ in [] }
  /// Ray jobs' output exchange (`/api/v1/runs/<id>/output`); nil: no Ray cluster is configured.
  public var rayOutput: RayStepOutput?
  /// The replicas, as Prometheus' HTTP service discovery wants them (`GET /api/v1/targets`).
  public var targets: @Sendable () throws -> [ScrapeTargetGroup] = { [] }

  public init(
    status: @escaping @Sendable () throws -> [ResourceStatus], plan: @escaping @Sendable (String?) throws -> String,
    events: @escaping @Sendable (String?, Int) throws -> [EventRecord],
    models: @escaping @Sendable (String?) throws -> [VersionRecord],
    run: @escaping @Sendable (String) throws -> RunRecord?,
    rollback: @escaping @Sendable (String, Int?) async throws -> Bool,
    promote: @escaping @Sendable (String) async throws -> Bool,
    metrics: @escaping @Sendable () -> String,
    source: @escaping @Sendable () -> SourceReport = { SourceReport() },
    runLog: @escaping @Sendable (String) throws -> String? = { _ in nil },
    retry: @escaping @Sendable (String) throws -> [String] = { _ in [] },
    targets: @escaping @Sendable () throws -> [ScrapeTargetGroup] = { [] }
  ) {
    self.source = source
    self.runLog = runLog
    self.retry = retry
    self.targets = targets
    self.status = status
    self.plan = plan
    self.events = events
    self.models = models
    self.run = run
    self.rollback = rollback
    self.promote = promote
    self.metrics = metrics
  }
}

/// One group of Prometheus' HTTP service discovery: a replica's address and its labels
/// (`deployment`, `version`, `replica`), so a query can select a model version.
public struct ScrapeTargetGroup: Sendable, Hashable, Encodable {
  public var targets: [String]
  public var labels: [String: String]

  public init(targets: [String], labels: [String: String]) {
    self.targets = targets
    self.labels = labels
  }
}

/// A failure the API answers with its own status (400, 404, 503) instead of 500.
public struct APIError: Error, CustomStringConvertible {
  public var status: HTTPResponse.Status
  public var description: String

  public init(_ status: HTTPResponse.Status, _ description: String) {
    self.status = status
    self.description = description
  }
}

extension AgentServer {
  static func addAPIRoutes(_ api: RouterGroup<BasicRequestContext>, _ calls: AgentAPI, token: String?) {
    if let output = calls.rayOutput { addRayOutputRoutes(api, output) }
    api.get("source") { request, _ in
      await answer(request, token) { try encode(calls.source()) }
    }
    api.get("status") { request, _ in
      await answer(request, token) { try encode(try calls.status()) }
    }
    api.get("plan") { request, _ in
      let ref = request.uri.queryParameters["ref"].map(String.init)
      return await answer(request, token) { try calls.plan(ref) }
    }
    api.get("events") { request, _ in
      let name = request.uri.queryParameters["name"].map(String.init)
      let limit = request.uri.queryParameters["limit"].flatMap { Int(String($0)) } ?? 200
      return await answer(request, token) {
        guard (1...10_000).contains(limit) else { throw APIError(.badRequest, "limit must be 1…10000") }
        return try encode(try calls.events(name, limit))
      }
    }
    api.get("models") { request, _ in
      let name = request.uri.queryParameters["name"].map(String.init)
      return await answer(request, token) { try encode(try calls.models(name)) }
    }
    api.get("runs/:id") { request, context in
      let id = context.parameters.get("id") ?? ""
      return await answer(request, token) {
        guard let run = try calls.run(id) else { throw APIError(.notFound, "no run named '\(id)'") }
        return try encode(run)
      }
    }
    api.get("runs/:id/log") { request, context in
      let id = context.parameters.get("id") ?? ""
      guard authorised(request, token) else { return unauthorised }
      let log = await onOwnThread { Result { try calls.runLog(id) } }
      switch log {
      case .success(let body?): return text(body, .ok, contentType: "text/plain; charset=utf-8")
      case .success(nil): return json(try encode(["error": "no run named '\(id)' with a log"]), .notFound)
      case .failure(let error): return json(try encode(["error": "\(error)"]), .internalServerError)
      }
    }
    api.post("retry/:name") { request, context in
      let name = context.parameters.get("name") ?? ""
      return await answer(request, token) {
        let said = try calls.retry(name)
        guard !said.isEmpty else {
          throw APIError(
            .notFound, "'\(name)' has no failed revision, and no stalled or retrying deployment or pipeline")
        }
        return try encode(["retried": said])
      }
    }
    api.post("deployments/:name/rollback") { request, context in
      guard authorised(request, token) else { return unauthorised }
      let name = context.parameters.get("name") ?? ""
      let version = request.uri.queryParameters["toVersion"].map { Int(String($0)) }
      if case .some(.none) = version { return json(#"{"error":"toVersion must be a version number"}"#, .badRequest) }
      do {
        guard try await calls.rollback(name, version ?? nil) else {
          return json(try encode(["error": "no deployment named '\(name)' is declared"]), .notFound)
        }
      } catch let error as APIError {
        return json(try encode(["error": error.description]), error.status)
      } catch {
        return json(try encode(["error": "\(error)"]), .internalServerError)
      }
      return json(try encode(["status": "rollback requested", "deployment": name]), .accepted)
    }
    api.get("targets") { request, _ in
      await answer(request, token) { try encode(try calls.targets()) }
    }
    api.post("deployments/:name/promote") { request, context in
      guard authorised(request, token) else { return unauthorised }
      let name = context.parameters.get("name") ?? ""
      do {
        guard try await calls.promote(name) else {
          return json(try encode(["error": "deployment '\(name)' has no rollout waiting for promotion"]), .conflict)
        }
      } catch {
        return json(try encode(["error": "\(error)"]), .internalServerError)
      }
      return json(try encode(["status": "promotion approved", "deployment": name]), .accepted)
    }
  }

  /// Checks the token, runs `body` on its own thread, and answers its JSON, or the error as JSON.
  static func answer(_ request: Request, _ token: String?, _ body: @escaping @Sendable () throws -> String) async
    -> Response
  {
    guard authorised(request, token) else { return unauthorised }
    let result: Result<String, APIError> = await onOwnThread {
      do { return .success(try body()) } catch let error as APIError { return .failure(error) } catch {
        return .failure(APIError(.internalServerError, "\(error)"))
      }
    }
    switch result {
    case .success(let text): return json(text)
    case .failure(let error):
      return json((try? encode(["error": error.description])) ?? #"{"error":"unknown"}"#, error.status)
    }
  }

  static var unauthorised: Response { json(#"{"error":"missing or wrong bearer token"}"#, .unauthorized) }

  static func encode<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
  }

  static func json(_ body: String, _ status: HTTPResponse.Status = .ok) -> Response {
    text(body, status, contentType: "application/json")
  }
}
