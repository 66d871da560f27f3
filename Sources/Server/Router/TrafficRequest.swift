import ModelOpsCore
import NIOHTTP1

/// Reads the values a canary routes on from a request's headers.
enum TrafficRequest {
  /// The value of a header (the first, when repeated) or of a cookie (in any `Cookie` header);
  /// nil when the request does not carry it.
  static func value(of key: TrafficKey, in headers: HTTPHeaders) -> Substring? {
    switch key {
    case .header(let name):
      return headers.first(name: name).map { Substring($0) }
    case .cookie(let name):
      for line in headers[canonicalForm: "cookie"] {
        for pair in line.split(separator: ";") {
          let trimmed = pair.drop { $0 == " " }
          guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals] == name else { continue }
          return trimmed[trimmed.index(after: equals)...]
        }
      }
      return nil
    }
  }
}
