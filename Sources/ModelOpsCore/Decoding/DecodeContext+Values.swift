import Foundation

/// Typed reads of scalar and collection values; each reports a wrong value at its node.
extension DecodeContext {
  func string(_ node: YAMLNode, _ field: String) -> String? {
    switch node.scalar?.resolved {
    case .string(let s): return s
    case .int, .float, .bool:
      let text = node.scalar?.value ?? ""
      error("'\(field)' must be a string, got \(node.typeDescription) (quote it: \"\(text)\")", at: node)
      return nil
    default:
      error("'\(field)' must be a string, got \(node.typeDescription)", at: node)
      return nil
    }
  }

  /// A string that must not be empty.
  func nonEmptyString(_ node: YAMLNode, _ field: String) -> String? {
    guard let s = string(node, field) else { return nil }
    guard !s.isEmpty else {
      error("'\(field)' must not be empty", at: node)
      return nil
    }
    return s
  }

  /// A container image reference as Docker reads one: `[HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST]`,
  /// the path lowercase. Checked here so a typo is a located error, not an engine's 400 later.
  func imageReference(_ node: YAMLNode, _ field: String) -> String? {
    guard let image = nonEmptyString(node, field) else { return nil }
    let component = #"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"#
    let pattern =
      // A first part is a registry host only when it says so (a dot, a port, or localhost).
      #"^(?:(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::[0-9]+)?/|[A-Za-z0-9-]+:[0-9]+/)?"# + component + "(?:/"
      + component + ")*"
      + #"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"#
    guard image.count <= 255, image.range(of: pattern, options: .regularExpression) != nil else {
      error(
        "'\(field)' is not an image reference ([HOST/]NAME[:TAG][@sha256:DIGEST], the name lowercase), got '\(image)'",
        at: node)
      return nil
    }
    return image
  }

  func int(_ node: YAMLNode, _ field: String, in range: ClosedRange<Int>) -> Int? {
    guard case .int(let value) = node.scalar?.resolved else {
      error("'\(field)' must be an integer, got \(node.typeDescription)", at: node)
      return nil
    }
    guard range.contains(value) else {
      let bound =
        range.upperBound == .max
        ? "at least \(range.lowerBound)" : "between \(range.lowerBound) and \(range.upperBound)"
      error("'\(field)' must be \(bound), got \(value)", at: node)
      return nil
    }
    return value
  }

  func number(_ node: YAMLNode, _ field: String) -> Double? {
    switch node.scalar?.resolved {
    case .int(let v): return Double(v)
    case .float(let v) where v.isFinite: return v
    default:
      error("'\(field)' must be a number, got \(node.typeDescription)", at: node)
      return nil
    }
  }

  func bool(_ node: YAMLNode, _ field: String) -> Bool? {
    guard case .bool(let value) = node.scalar?.resolved else {
      error("'\(field)' must be true or false, got \(node.typeDescription)", at: node)
      return nil
    }
    return value
  }

  /// A positive duration (`500ms`, `30s`, `5m`, `2h`); zero only when `allowZero`.
  func duration(_ node: YAMLNode, _ field: String, allowZero: Bool = false) -> ManifestDuration? {
    let text = node.scalar?.value ?? ""
    guard node.scalar != nil, let d = ManifestDuration(parsing: text) else {
      error("'\(field)' is not a duration: '\(text)' (write it like 500ms, 30s, 5m or 2h)", at: node)
      return nil
    }
    guard allowZero || d.milliseconds > 0 else {
      error("'\(field)' must be longer than 0s", at: node)
      return nil
    }
    return d
  }

  func size(_ node: YAMLNode, _ field: String) -> ByteSize? {
    let text = node.scalar?.value ?? ""
    guard node.scalar != nil, let s = ByteSize(parsing: text) else {
      error("'\(field)' is not a size: '\(text)' (write it like 512Mi or 2Gi)", at: node)
      return nil
    }
    return s
  }

  /// One of a fixed set of words, with a suggestion when it is close to one.
  func oneOf<T: RawRepresentable>(_ node: YAMLNode, _ field: String, _ cases: [T]) -> T?
  where T.RawValue == String {
    guard let text = string(node, field) else { return nil }
    if let value = cases.first(where: { $0.rawValue == text }) { return value }
    let names = cases.map(\.rawValue)
    var message = "'\(field)' must be one of \(names.joined(separator: ", ")), got '\(text)'"
    if let hint = suggestion(for: text, among: names) { message += " (did you mean '\(hint)'?)" }
    error(message, at: node)
    return nil
  }

  /// A list, each element read by `element`; elements that fail are left out.
  func list<T>(_ node: YAMLNode, _ field: String, _ element: (YAMLNode, String) -> T?) -> [T]? {
    guard case .sequence(let items) = node.content else {
      error("'\(field)' must be a list, got \(node.typeDescription)", at: node)
      return nil
    }
    return items.enumerated().compactMap { index, item in element(item, "\(field)[\(index)]") }
  }

  func stringList(_ node: YAMLNode, _ field: String) -> [String]? {
    list(node, field) { item, path in self.nonEmptyString(item, path) }
  }

  /// A mapping of strings to strings (labels, env, params); `checkKey` validates each key.
  func stringMap(
    _ node: YAMLNode, _ field: String, checkKey: ((String, YAMLNode) -> Bool)? = nil
  ) -> [String: String]? {
    guard case .mapping(let pairs) = node.content else {
      error("'\(field)' must be a mapping of strings, got \(node.typeDescription)", at: node)
      return nil
    }
    var result: [String: String] = [:]
    var firstLine: [String: Int] = [:]
    for pair in pairs {
      guard let key = string(pair.key, "key in \(field)") else { continue }
      if let line = firstLine[key] {
        error("duplicate key '\(key)' in '\(field)' (first given at line \(line))", at: pair.key)
        continue
      }
      firstLine[key] = pair.key.line
      guard checkKey?(key, pair.key) ?? true else { continue }
      if let value = string(pair.value, "\(field).\(key)") { result[key] = value }
    }
    return result
  }

  /// A list of names of resources of `kind`, each recorded as a reference to check.
  func referenceList(_ node: YAMLNode, _ field: String, to kind: ResourceKind) -> [String] {
    list(node, field) { item, path in
      guard let name = self.nonEmptyString(item, path) else { return nil }
      self.references.append(
        Reference(kind: kind, name: name, field: field, requirement: .exists, location: self.location(item)))
      return name
    } ?? []
  }
}
