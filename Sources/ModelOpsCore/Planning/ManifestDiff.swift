import Foundation

/// How one resource differs between two commits, field by field.
public struct ResourceChange: Sendable, Hashable, Encodable {
  public enum Change: String, Sendable, Hashable, Encodable {
    case added, changed, removed
  }

  /// One field that differs: a dotted path, with the old and new values as short text.
  public struct Field: Sendable, Hashable, Encodable {
    public var path: String
    public var from: String?
    public var to: String?
  }

  public var kind: ResourceKind
  public var name: String
  public var change: Change
  public var fields: [Field]
}

/// The difference between the manifests of two commits (a pull request's base and head).
public enum ManifestDiff {
  public static func diff(base: ManifestSet, head: ManifestSet) -> [ResourceChange] {
    let ids = Set(base.locations.keys).union(head.locations.keys).sorted()
    return ids.compactMap { id in
      let old = base.contains(id) ? json(of: id, in: base) : nil
      let new = head.contains(id) ? json(of: id, in: head) : nil
      switch (old, new) {
      case (nil, _?): return ResourceChange(kind: id.kind, name: id.name, change: .added, fields: [])
      case (_?, nil): return ResourceChange(kind: id.kind, name: id.name, change: .removed, fields: [])
      case (let old?, let new?):
        var fields: [ResourceChange.Field] = []
        compare(old, new, path: "", into: &fields)
        return fields.isEmpty ? nil : ResourceChange(kind: id.kind, name: id.name, change: .changed, fields: fields)
      default: return nil
      }
    }
  }

  /// The resource as a JSON tree.
  private static func json(of id: ResourceID, in set: ManifestSet) -> JSONValue? {
    let encoder = JSONEncoder()
    let data: Data?
    switch id.kind {
    case .model: data = set.models[id.name].flatMap { try? encoder.encode($0) }
    case .pipeline: data = set.pipelines[id.name].flatMap { try? encoder.encode($0) }
    case .deployment: data = set.deployments[id.name].flatMap { try? encoder.encode($0) }
    case .monitor: data = set.monitors[id.name].flatMap { try? encoder.encode($0) }
    }
    return data.flatMap { try? JSONDecoder().decode(JSONValue.self, from: $0) }
  }

  private static func compare(
    _ old: JSONValue, _ new: JSONValue, path: String, into fields: inout [ResourceChange.Field]
  ) {
    func join(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    if let a = old.keyed, let b = new.keyed {
      for key in Set(a.keys).union(b.keys).sorted() {
        switch (a[key], b[key]) {
        case (let x?, let y?): compare(x, y, path: join(key), into: &fields)
        case (let x?, nil): fields.append(.init(path: join(key), from: x.text, to: nil))
        case (nil, let y?): fields.append(.init(path: join(key), from: nil, to: y.text))
        default: break
        }
      }
    } else if old != new {
      fields.append(.init(path: path, from: old.text, to: new.text))
    }
  }
}

/// A JSON value, to compare encoded resources field by field.
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
