import CCurl
import Foundation

/// An HTTP response: status, headers (names lowercased; the last of repeated ones) and body.
public struct HTTPResponse: Sendable {
  public var status: Int
  public var headers: [String: String] = [:]
  public var body: Data

  public init(status: Int, headers: [String: String] = [:], body: Data) {
    self.status = status
    self.headers = headers
    self.body = body
  }
}

/// An HTTP failure below the HTTP level (refused, timed out, too large), with libcurl's words.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// Files for an `https://` peer that wants a client certificate (Docker's `tcp://` with TLS):
/// the CA to verify it by, and this client's certificate and key (PEM).
public struct TLSFiles: Sendable, Hashable {
  public var ca: String?
  public var certificate: String?
  public var key: String?

  public init(ca: String? = nil, certificate: String? = nil, key: String? = nil) {
    self.ca = ca
    self.certificate = certificate
    self.key = key
  }
}

/// HTTP through libcurl: one easy handle per request, owned and freed here.
///
/// Blocking: call it from a thread that may wait (a health probe, a driver call), never from an
/// event loop.
public enum HTTPClient {
  /// Largest body read; a larger one fails the request rather than filling memory.
  public static let maxBody = 64 << 20

  private static let ready: Bool = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK }()

  public static func request(
    _ method: String, _ url: String, headers: [String: String] = [:], body: Data? = nil, timeout: TimeInterval,
    unixSocket: String? = nil, tls: TLSFiles? = nil, stream: ((Data) -> Void)? = nil
  ) throws -> HTTPResponse {
    guard ready, let handle = curl_easy_init() else { throw HTTPError("libcurl could not start") }
    defer { curl_easy_cleanup(handle) }
    let sink = Sink(stream: stream)
    var list: UnsafeMutablePointer<curl_slist>?
    defer { curl_slist_free_all(list) }
    for (name, value) in headers.sorted(by: { $0.key < $1.key }) { list = curl_slist_append(list, "\(name): \(value)") }

    var status = modelops_curl_set_string(handle, CURLOPT_URL, url)
    status = status == CURLE_OK ? modelops_curl_set_string(handle, CURLOPT_CUSTOMREQUEST, method) : status
    status = status == CURLE_OK ? modelops_curl_set_long(handle, CURLOPT_TIMEOUT_MS, Int(timeout * 1000)) : status
    status = status == CURLE_OK ? modelops_curl_set_long(handle, CURLOPT_NOSIGNAL, 1) : status
    if let unixSocket, status == CURLE_OK {
      status = modelops_curl_set_string(handle, CURLOPT_UNIX_SOCKET_PATH, unixSocket)
    }
    if let tls {
      for (option, path) in [(CURLOPT_CAINFO, tls.ca), (CURLOPT_SSLCERT, tls.certificate), (CURLOPT_SSLKEY, tls.key)]
      where status == CURLE_OK {
        if let path { status = modelops_curl_set_string(handle, option, path) }
      }
    }
    if list != nil, status == CURLE_OK { status = modelops_curl_set_pointer(handle, CURLOPT_HTTPHEADER, list) }
    guard status == CURLE_OK else { throw HTTPError("cannot set up the request to \(url): \(message(status))") }

    let payload = Unmanaged.passUnretained(sink).toOpaque()
    guard modelops_curl_set_write(handle, writeBody, payload) == CURLE_OK else {
      throw HTTPError("cannot set up \(url)")
    }
    let result: CURLcode = withExtendedLifetime(sink) {
      guard let body else { return curl_easy_perform(handle) }
      return body.withUnsafeBytes { raw -> CURLcode in
        _ = modelops_curl_set_long(handle, CURLOPT_POSTFIELDSIZE, raw.count)
        _ = modelops_curl_set_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress))
        return curl_easy_perform(handle)
      }
    }
    guard result == CURLE_OK else {
      if sink.overflowed { throw HTTPError("\(method) \(url): response larger than \(maxBody) bytes") }
      throw HTTPError("\(method) \(url): \(message(result))")
    }
    var code = 0
    _ = modelops_curl_get_long(handle, CURLINFO_RESPONSE_CODE, &code)
    return HTTPResponse(status: code, headers: responseHeaders(of: handle), body: sink.data)
  }

  /// The final response's headers, through libcurl's header API (7.83+).
  private static func responseHeaders(of handle: UnsafeMutableRawPointer) -> [String: String] {
    var headers: [String: String] = [:]
    var previous: UnsafeMutablePointer<curl_header>?
    while let header = curl_easy_nextheader(handle, UInt32(CURLH_HEADER), -1, previous) {
      if let name = header.pointee.name, let value = header.pointee.value {
        headers[String(cString: name).lowercased()] = String(cString: value)
      }
      previous = header
    }
    return headers
  }

  public static func get(_ url: String, timeout: TimeInterval) throws -> HTTPResponse {
    try request("GET", url, timeout: timeout)
  }

  private static func message(_ code: CURLcode) -> String { String(cString: curl_easy_strerror(code)) }
}

/// Collects a response body for the write callback (called from within `curl_easy_perform`), or
/// hands each piece to `stream` as it arrives (a body without end, as a followed log; the
/// response's body is then empty).
private final class Sink {
  var data = Data()
  var overflowed = false
  let stream: ((Data) -> Void)?

  init(stream: ((Data) -> Void)?) { self.stream = stream }
}

private let writeBody: modelops_curl_write_fn = { pointer, size, count, userdata in
  guard let pointer, let userdata else { return 0 }
  let sink = Unmanaged<Sink>.fromOpaque(userdata).takeUnretainedValue()
  let bytes = size * count
  if let stream = sink.stream {
    stream(Data(bytes: pointer, count: bytes))
    return bytes
  }
  guard sink.data.count + bytes <= HTTPClient.maxBody else {
    sink.overflowed = true
    return 0
  }
  sink.data.append(UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: bytes)
  return bytes
}
