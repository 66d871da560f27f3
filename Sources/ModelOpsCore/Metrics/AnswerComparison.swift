import Foundation

/// How a mirror step judges a pair of answers to one request (the stable version's, which the
/// client got, and the new version's, which nobody sees): they agree when their statuses are
/// equal and, with `field`, that JSON field of both bodies is equal (numbers within `tolerance`,
/// lists item by item); without `field`, the bodies must be equal byte for byte.
public struct AnswerComparison: Sendable, Hashable, Codable {
  /// A field of the JSON answer: top-level (`prediction`) or a dotted path (`output.score`).
  public var field: String?
  /// Largest difference between two numbers still counted as agreeing (absolute).
  public var tolerance: Double

  public init(field: String? = nil, tolerance: Double = 0) {
    self.field = field
    self.tolerance = tolerance
  }

  /// Whether two answers agree.
  public func agree(_ a: (status: Int, body: [UInt8]), _ b: (status: Int, body: [UInt8])) -> Bool {
    guard a.status == b.status else { return false }
    guard let field else { return a.body == b.body }
    let path = field.split(separator: ".").map(String.init)
    let x = Self.value(at: path, in: a.body)
    let y = Self.value(at: path, in: b.body)
    switch (x, y) {
    case (nil, nil):
      // Neither answer has the field (e.g. two errors): the statuses decided.
      return true
    case (let x?, let y?):
      return same(x, y)
    default:
      return false
    }
  }

  private func same(_ x: JSONValue, _ y: JSONValue) -> Bool {
    switch (x, y) {
    case (.number(let p), .number(let q)):
      return abs(p - q) <= tolerance
    case (.array(let p), .array(let q)):
      return p.count == q.count && zip(p, q).allSatisfy { same($0, $1) }
    case (.object(let p), .object(let q)):
      return p.keys.sorted() == q.keys.sorted()
        && p.allSatisfy { key, value in q[key].map { same(value, $0) } ?? false }
    default:
      return x == y
    }
  }

  /// The value at `path` in a JSON body; nil when the body is not JSON or lacks it.
  static func value(at path: [String], in body: [UInt8]) -> JSONValue? {
    guard var value = try? JSONDecoder().decode(JSONValue.self, from: Data(body)) else { return nil }
    for key in path {
      guard case .object(let fields) = value, let next = fields[key] else { return nil }
      value = next
    }
    return value
  }
}
