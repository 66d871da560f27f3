import Foundation

/// A failure of the Docker Engine API: the engine's own message, or why it could not be reached.
public struct DockerError: Error, Sendable, CustomStringConvertible {
  public var description: String
  /// The HTTP status the engine answered with; nil when it was not reached.
  public var status: Int?

  public init(_ description: String, status: Int? = nil) {
    self.description = description
    self.status = status
  }
}

/// The Docker Engine API (v1.41, which podman's compatible service speaks too) through libcurl,
/// over a unix socket or `tcp://HOST:PORT` (HTTPS when TLS files are given).
///
/// Blocking, like `HTTPClient`: call it from a thread that may wait.
public struct DockerEngine: Sendable {
  /// As configured: a socket path, `unix://PATH` or `tcp://HOST:PORT`.
  public let address: String
  let base: String
  let socket: String?
  let tls: TLSFiles?
  /// Each call's limit (waits, follows and pulls have their own).
  let timeout: TimeInterval = 30

  public static let apiVersion = "v1.41"

  public init(address: String, tls: TLSFiles? = nil) {
    self.address = address
    self.tls = tls
    if address.hasPrefix("tcp://") {
      socket = nil
      base = (tls == nil ? "http://" : "https://") + address.dropFirst("tcp://".count) + "/" + Self.apiVersion
    } else {
      socket = address.hasPrefix("unix://") ? String(address.dropFirst("unix://".count)) : address
      base = "http://docker/" + Self.apiVersion
    }
  }

  // MARK: Engine and images

  /// The engine's version (`Version`), to check it answers.
  public func version() throws -> String {
    let object = try json(try call("GET", "/version", what: "read the engine's version"))
    return object["Version"] as? String ?? "unknown"
  }

  public func imageExists(_ image: String) throws -> Bool {
    let response = try call(
      "GET", "/images/\(try Self.pathComponent(image))/json", what: "inspect image \(image)", allow: [404])
    return response.status != 404
  }

  /// Pulls an image (only when the configuration asks for it). The engine streams progress as
  /// JSON lines and reports a failure as an `error` line of a 200 answer.
  public func pull(_ image: String) throws {
    let response = try call(
      "POST", "/images/create?fromImage=\(Self.query(image))", what: "pull image \(image)", timeout: 600)
    for line in response.body.split(separator: UInt8(ascii: "\n")) {
      if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
        let error = object["error"] as? String
      {
        throw DockerError("cannot pull image \(image): \(error)")
      }
    }
  }

  // MARK: Containers

  /// Creates a container (not started); returns its id.
  public func create(_ spec: ContainerSpec) throws -> String {
    let body = try JSONSerialization.data(withJSONObject: spec.engineJSON, options: [.sortedKeys])
    let response = try call(
      "POST", "/containers/create?name=\(Self.query(spec.name))", body: body, what: "create container \(spec.name)")
    guard let id = try json(response)["Id"] as? String, !id.isEmpty else {
      throw DockerError("the engine created \(spec.name) but did not say its id")
    }
    return id
  }

  public func start(_ id: String) throws {
    _ = try call("POST", "/containers/\(try Self.pathComponent(id))/start", what: "start container \(id)", allow: [304])
  }

  /// The container's state; nil when the engine does not know it.
  public func inspect(_ id: String) throws -> ContainerInfo? {
    let response = try call(
      "GET", "/containers/\(try Self.pathComponent(id))/json", what: "inspect container \(id)", allow: [404])
    if response.status == 404 { return nil }
    do {
      return try JSONDecoder().decode(ContainerInfo.self, from: response.body)
    } catch {
      throw DockerError("cannot read the engine's description of container \(id): \(error)")
    }
  }

  /// SIGTERM, then SIGKILL after `grace` seconds (the engine's own stop). Gone already is fine.
  public func stop(_ id: String, grace: Int) throws {
    _ = try call(
      "POST", "/containers/\(try Self.pathComponent(id))/stop?t=\(grace)", what: "stop container \(id)",
      timeout: timeout + TimeInterval(grace), allow: [304, 404])
  }

  /// Removes the container (killed first if running) and its anonymous volumes. Gone already is fine.
  public func remove(_ id: String) throws {
    _ = try call(
      "DELETE", "/containers/\(try Self.pathComponent(id))?force=true&v=true", what: "remove container \(id)",
      allow: [404])
  }

  /// Every container (running or not) carrying all of these labels.
  public func list(labels: [String: String]) throws -> [ContainerSummary] {
    let filters = ["label": labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }]
    let encoded = String(decoding: try JSONSerialization.data(withJSONObject: filters), as: UTF8.self)
    let response = try call("GET", "/containers/json?all=true&filters=\(Self.query(encoded))", what: "list containers")
    do {
      return try JSONDecoder().decode([ContainerSummary].self, from: response.body)
    } catch {
      throw DockerError("cannot read the engine's container list: \(error)")
    }
  }

  /// The container's stdout and stderr so far, in order (the engine's frames taken apart).
  public func logs(_ id: String) throws -> Data {
    let response = try call(
      "GET", "/containers/\(try Self.pathComponent(id))/logs?stdout=true&stderr=true", what: "read the logs of \(id)")
    return Self.demultiplex(response.body)
  }

  /// Follows the container's output until it stops (or `until` passes), handing stdout and stderr
  /// to `receive` as they are written; returns false when `until` came first.
  public func followLogs(_ id: String, until: Date?, receive: @escaping (Data) -> Void) throws -> Bool {
    let limit = until.map { max(0.05, $0.timeIntervalSinceNow) } ?? 7 * 24 * 3600
    let frames = LogFrames(receive)
    do {
      _ = try call(
        "GET", "/containers/\(try Self.pathComponent(id))/logs?follow=true&stdout=true&stderr=true",
        what: "follow the logs of \(id)", timeout: limit, stream: { frames.feed($0) })
      frames.finish()
      return true
    } catch let error as DockerError where error.status == nil {
      frames.finish()
      // The deadline passed (or the connection dropped): the container's state decides.
      guard let info = try inspect(id) else { throw DockerError("container \(id) disappeared") }
      return !info.state.running
    }
  }

  /// Waits until the container stops and returns its exit code; nil when `until` came first
  /// (the container is left running).
  public func wait(_ id: String, until: Date?) throws -> Int? {
    let limit = until.map { max(0.05, $0.timeIntervalSinceNow) } ?? 7 * 24 * 3600
    do {
      let response = try call(
        "POST", "/containers/\(try Self.pathComponent(id))/wait", what: "wait for container \(id)", timeout: limit)
      if let code = try json(response)["StatusCode"] as? Int { return code }
    } catch let error as DockerError where error.status == nil {
      // The wait timed out (or the connection dropped): the container's state decides.
    }
    guard let info = try inspect(id) else { throw DockerError("container \(id) disappeared") }
    return info.state.running ? nil : info.state.exitCode
  }

  // MARK: Plumbing

  private func call(
    _ method: String, _ path: String, body: Data? = nil, what: String, timeout: TimeInterval? = nil,
    allow: Set<Int> = [], stream: ((Data) -> Void)? = nil
  ) throws -> HTTPResponse {
    let response: HTTPResponse
    do {
      response = try HTTPClient.request(
        method, base + path, headers: body == nil ? [:] : ["Content-Type": "application/json"], body: body,
        timeout: timeout ?? self.timeout, unixSocket: socket, tls: tls, stream: stream)
    } catch {
      throw DockerError("cannot \(what): the docker engine at \(address) did not answer (\(error))")
    }
    guard (200..<300).contains(response.status) || allow.contains(response.status) else {
      let message = (try? json(response))?["message"] as? String
      throw DockerError(
        "cannot \(what): \(message ?? "the engine answered HTTP \(response.status)")", status: response.status)
    }
    return response
  }

  private func json(_ response: HTTPResponse) throws -> [String: Any] {
    guard let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] else {
      throw DockerError("the docker engine at \(address) answered something that is not a JSON object")
    }
    return object
  }

  /// Names and ids go in the URL path as they are; anything else there is refused, not escaped.
  static func pathComponent(_ text: String) throws -> String {
    let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@")
    guard !text.isEmpty, !text.contains(".."), text.unicodeScalars.allSatisfy(allowed.contains) else {
      throw DockerError("'\(text)' is not a valid image or container name")
    }
    return text
  }

  static func query(_ text: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
  }

  /// Takes apart the engine's log stream (see LogFrames), all of it at once.
  static func demultiplex(_ stream: Data) -> Data {
    var output = Data()
    let frames = LogFrames { output.append($0) }
    frames.feed(stream)
    frames.finish()
    return output
  }

}

/// Takes the engine's multiplexed log stream apart as it arrives: a frame's header or bytes may be
/// split across pieces. A stream that does not start with a header (a TTY) is passed on as is.
final class LogFrames {
  private var pending: [UInt8] = []
  private var raw: Bool?
  private let receive: (Data) -> Void

  init(_ receive: @escaping (Data) -> Void) { self.receive = receive }

  func feed(_ piece: Data) {
    pending.append(contentsOf: piece)
    if raw == nil, pending.count >= 8 {
      raw = !(pending[0] <= 2 && pending[1] == 0 && pending[2] == 0 && pending[3] == 0)
    }
    guard let raw else { return }
    if raw {
      receive(Data(pending))
      pending.removeAll()
      return
    }
    var index = 0
    var output = Data()
    while index + 8 <= pending.count {
      let length = pending[(index + 4)..<(index + 8)].reduce(0) { $0 << 8 | Int($1) }
      guard index + 8 + length <= pending.count else { break }
      output.append(contentsOf: pending[(index + 8)..<(index + 8 + length)])
      index += 8 + length
    }
    pending.removeFirst(index)
    if !output.isEmpty { receive(output) }
  }

  /// When the stream ends: fewer than 8 bytes (too short to tell a TTY) are passed on; what is
  /// left of a cut-off frame is not.
  func finish() {
    if !pending.isEmpty, raw != false { receive(Data(pending)) }
    pending.removeAll()
  }
}
