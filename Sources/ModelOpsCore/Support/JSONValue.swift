/// A JSON value, to compare encoded resources field by field and a mirror step's answers.
enum JSONValue: Decodable, Equatable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if c.decodeNil() {
      self = .null
    } else if let b = try? c.decode(Bool.self) {
      self = .bool(b)
    } else if let n = try? c.decode(Double.self) {
      self = .number(n)
    } else if let s = try? c.decode(String.self) {
      self = .string(s)
    } else if let a = try? c.decode([JSONValue].self) {
      self = .array(a)
    } else {
      self = .object(try c.decode([String: JSONValue].self))
    }
  }

  /// A mapping, or a list whose items all have a `name` (matched by name, not by position).
  var keyed: [String: JSONValue]? {
    switch self {
    case .object(let fields): return fields
    case .array(let items) where !items.isEmpty:
      var result: [String: JSONValue] = [:]
      for item in items {
        guard case .object(var fields) = item, case .string(let name)? = fields["name"], result[name] == nil else {
          return nil
        }
        fields["name"] = nil
        result[name] = .object(fields)
      }
      return result
    default: return nil
    }
  }

  /// Short text for a diff line.
  var text: String {
    switch self {
    case .null: return "null"
    case .bool(let b): return b ? "true" : "false"
    case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : String(n)
    case .string(let s): return s
    case .array(let items): return "[" + items.map(\.text).joined(separator: ", ") + "]"
    case .object(let fields):
      return "{" + fields.keys.sorted().map { "\($0): \(fields[$0]?.text ?? "")" }.joined(separator: ", ") + "}"
    }
  }
}
