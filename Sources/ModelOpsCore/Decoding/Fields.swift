/// The fields of one YAML mapping, checked against the names a manifest allows there.
///
/// Building it reports a non-mapping, duplicate keys and unknown fields (with a suggestion);
/// reading a field that is absent but required reports it at the mapping.
struct Fields {
  let context: DecodeContext
  let node: YAMLNode
  /// Dotted path of this mapping for messages ("spec.health"); empty at a document's root.
  let path: String
  private var pairs: [String: YAMLNode.Pair] = [:]

  init?(_ node: YAMLNode, path: String, allowed: [String], context: DecodeContext) {
    self.context = context
    self.node = node
    self.path = path
    guard case .mapping(let items) = node.content else {
      context.error("'\(path)' must be a mapping, got \(node.typeDescription)", at: node)
      return nil
    }
    for pair in items {
      guard case .string(let key) = pair.key.scalar?.resolved else {
        context.error("keys in '\(path)' must be strings, got \(pair.key.typeDescription)", at: pair.key)
        continue
      }
      if let first = pairs[key] {
        context.error(
          "duplicate field '\(key)' (first given at line \(first.key.line))", at: pair.key)
      } else if !allowed.contains(key) {
        var message = "unknown field '\(key)'"
        if let hint = suggestion(for: key, among: allowed) { message += " (did you mean '\(hint)'?)" }
        context.error(message, at: pair.key)
      } else {
        pairs[key] = pair
      }
    }
  }

  /// The dotted path of a field of this mapping.
  func path(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

  /// The value of a field; nil when absent or null.
  subscript(_ key: String) -> YAMLNode? {
    guard let value = pairs[key]?.value, !value.isNull else { return nil }
    return value
  }

  /// The key node of a field that is present, to locate errors about the field itself.
  func keyNode(_ key: String) -> YAMLNode? { self[key] == nil ? nil : pairs[key]?.key }

  /// Fields that are present (and not null), in no particular order.
  var presentKeys: [String] { pairs.compactMap { $0.value.value.isNull ? nil : $0.key } }

  /// The value of a field that must be given; reports it missing otherwise.
  func required(_ key: String) -> YAMLNode? {
    if let value = self[key] { return value }
    let owner = path.isEmpty ? "the document" : "'\(path)'"
    context.error("missing required field '\(key)' in \(owner)", at: node)
    return nil
  }

  /// Exactly one of the keys of a one-of mapping (`source`, `metric`); reports none or several.
  func exactlyOne(of options: [String]) -> (String, YAMLNode)? {
    let present = options.filter { self[$0] != nil }
    guard present.count == 1, let key = present.first, let value = self[key] else {
      let list = options.joined(separator: ", ")
      if present.isEmpty {
        context.error("'\(path)' needs one of \(list)", at: node)
      } else if let second = keyNode(present[1]) {
        context.error("'\(path)' takes only one of \(list); got \(present.joined(separator: " and "))", at: second)
      }
      return nil
    }
    return (key, value)
  }
}
