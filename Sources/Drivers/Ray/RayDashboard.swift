import Foundation
import Synchronization

/// A failure talking to a Ray cluster. `transient`: the cluster did not answer (unreachable,
/// timed out, 5xx) and the call is worth making again later; otherwise Ray refused what was asked
/// and a person must act (its message says why).
public struct RayError: Error, Sendable, CustomStringConvertible {
  public var description: String
  public var transient: Bool

  public init(_ description: String, transient: Bool) {
    self.description = description
    self.transient = transient
  }
}

/// A Ray cluster's dashboard REST API (`ray.address`): job submission, package upload, Serve's
/// declarative config and the nodes' resources. The same API fronts a KubeRay RayCluster.
///
/// Blocking, with a deadline on every call: use it from threads that may wait.
public struct RayDashboard: Sendable {
  public let address: String
  let token: String?
  /// Deadline of a call (a package upload gets `uploadTimeout`; a change of Serve's config,
  /// which starts Serve's controller the first time, `serveTimeout`).
  public var timeout: TimeInterval = 15
  public var uploadTimeout: TimeInterval = 300
  public var serveTimeout: TimeInterval = 60

  public init(address: String, token: String? = nil) {
    self.address = address.hasSuffix("/") ? String(address.dropLast()) : address
    self.token = token
  }

  /// Calls `path`; the response of any status (a 5xx is thrown as transient). A cluster that
  /// cannot be reached is a transient error that says so.
  public func call(_ method: String, _ path: String, body: Data? = nil, contentType: String = "application/json")
    throws(RayError) -> HTTPResponse
  {
    var headers: [String: String] = [:]
    if body != nil { headers["Content-Type"] = contentType }
    if let token { headers["Authorization"] = "Bearer \(token)" }
    let response: HTTPResponse
    do {
      response = try HTTPClient.request(
        method, address + path, headers: headers, body: body,
        timeout: method == "PUT" && path.hasPrefix("/api/packages/")
          ? uploadTimeout : method == "PUT" && path.hasPrefix("/api/serve/") ? serveTimeout : timeout)
    } catch {
      throw RayError("cannot reach the Ray dashboard at \(address): \(error)", transient: true)
    }
    if response.status >= 500 || response.status == 401 || response.status == 403 {
      let detail = Self.message(response.body).map { ": \($0)" } ?? ""
      throw RayError(
        "the Ray dashboard at \(address) answered \(method) \(path) with \(response.status)\(detail)",
        transient: response.status >= 500)
    }
    return response
  }

  /// A JSON object from `path`, or Ray's refusal (4xx) thrown with its message.
  public func json(_ method: String, _ path: String, _ body: [String: Any]? = nil) throws(RayError) -> [String: Any] {
    let data: Data?
    do { data = try body.map { try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) } } catch {
      throw RayError("cannot encode the request to \(path): \(error)", transient: false)
    }
    let response = try call(method, path, body: data)
    guard (200..<300).contains(response.status) else {
      throw RayError(
        "Ray refused \(method) \(path) (\(response.status)): \(Self.message(response.body) ?? "no message")",
        transient: false)
    }
    // Some calls answer 200 with no body (Serve's config PUT).
    if response.body.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d }) { return [:] }
    guard let object = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] else {
      throw RayError("the Ray dashboard at \(address) answered \(path) with something other than JSON", transient: true)
    }
    return object
  }

  /// The cluster's Ray version (`GET /api/version`): checks it is a Ray dashboard that answers.
  public func version() throws(RayError) -> String {
    let object = try json("GET", "/api/version")
    guard let version = object["ray_version"] as? String else {
      throw RayError("\(address) answered /api/version without a ray_version: is it a Ray dashboard?", transient: false)
    }
    return version
  }

  /// Ray's error text in a body: a JSON `message`/`msg`/`detail`, else the text's last lines.
  static func message(_ body: Data) -> String? {
    if let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] {
      for key in ["message", "msg", "detail", "error"] {
        if let text = object[key] as? String, !text.isEmpty { return tail(text) }
      }
    }
    let text = String(decoding: body.prefix(64 << 10), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    return text.isEmpty ? nil : tail(text)
  }

  /// The last lines of a long text (a traceback's tail names the error).
  public static func tail(_ text: String, lines: Int = 12) -> String {
    let all = text.split(separator: "\n", omittingEmptySubsequences: false)
    return all.count <= lines ? text : "…\n" + all.suffix(lines).joined(separator: "\n")
  }

  /// The resources of each live node (`CPU`, `GPU`, `memory` in bytes, …).
  public func nodeResources() throws(RayError) -> [[String: Double]] {
    let object = try json("GET", "/nodes?view=summary")
    let summary = ((object["data"] as? [String: Any])?["summary"] as? [[String: Any]]) ?? []
    return summary.compactMap { node in
      guard let raylet = node["raylet"] as? [String: Any], (raylet["state"] as? String) == "ALIVE" else { return nil }
      return (raylet["resourcesTotal"] as? [String: Any] ?? [:]).compactMapValues { ($0 as? NSNumber)?.doubleValue }
    }
  }

  /// Uploads a working_dir package under `name` (`_ray_pkg_<digest>.zip`) unless the cluster has it.
  public func ensurePackage(name: String, zip: () throws -> Data) throws -> String {
    let path = "/api/packages/gcs/\(name)"
    if try call("GET", path).status == 200 { return "gcs://\(name)" }
    let response = try call("PUT", path, body: try zip(), contentType: "application/zip")
    guard (200..<300).contains(response.status) else {
      throw RayError(
        "Ray refused the code package \(name) (\(response.status)): \(Self.message(response.body) ?? "no message")",
        transient: false)
    }
    return "gcs://\(name)"
  }
}
