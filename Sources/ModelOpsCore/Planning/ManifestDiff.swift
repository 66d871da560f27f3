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
