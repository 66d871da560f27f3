import ArgumentParser
import Drivers
import Foundation

/// `--server URL`: ask a running agent (its HTTP API) instead of reading the state folder.
struct ServerOption: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Ask the running agent at this URL (e.g. http://127.0.0.1:7070) instead of reading state.",
      discussion: "The bearer token is the configuration's api.token, else $MODELOPS_API_TOKEN."))
  var server: String?

  /// The API's answer to `GET path` (JSON), or its error as a failure.
  func get(_ path: String, config: String?) throws -> Data {
    try call("GET", path, config: config).body
  }

  func call(_ method: String, _ path: String, config: String?) throws -> HTTPResponse {
    guard let server else { throw CommandFailure("no --server given") }
    var base = server
    while base.hasSuffix("/") { base.removeLast() }
    guard base.hasPrefix("http://") || base.hasPrefix("https://") else {
      throw CommandFailure("--server must be an http:// or https:// URL, not '\(server)'")
    }
    var headers: [String: String] = [:]
    if let token = try Self.token(config: config) { headers["Authorization"] = "Bearer \(token)" }
    let response: HTTPResponse
    do {
      response = try HTTPClient.request(method, base + "/api/v1/" + path, headers: headers, timeout: 30)
    } catch {
      throw CommandFailure("cannot reach the agent at \(base): \(error)")
    }
    guard (200..<300).contains(response.status) else {
      let message =
        (try? JSONSerialization.jsonObject(with: response.body) as? [String: Any])?["error"] as? String
        ?? String(decoding: response.body, as: UTF8.self)
      throw CommandFailure("the agent at \(base) answered \(response.status): \(message)")
    }
    return response
  }

  func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    do { return try decoder.decode(type, from: data) } catch {
      throw CommandFailure("the agent's answer could not be read: \(error)")
    }
  }

  private static func token(config: String?) throws -> String? {
    if let reference = (try? ConfigLoading.load(explicit: config))??.apiToken {
      return try Credentials.secret(reference)
    }
    return ProcessInfo.processInfo.environment["MODELOPS_API_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
  }
}

/// Percent-encodes one path segment or query value.
func escaped(_ text: String) -> String {
  text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
}
