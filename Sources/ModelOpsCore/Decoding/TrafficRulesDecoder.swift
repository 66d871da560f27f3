/// Decodes a canary's traffic rules: `match` (A/B: which requests reach the new revision) and
/// `sticky` (which request value keeps a client on one side).
enum TrafficRulesDecoder {
  /// `[{header: NAME, value: TEXT} | {cookie: NAME, value: TEXT}, …]`: at least one.
  static func decodeMatches(_ node: YAMLNode, _ c: DecodeContext) -> [TrafficMatch]? {
    let matches = c.list(node, "spec.strategy.match") { item, path -> TrafficMatch? in
      guard let f = Fields(item, path: path, allowed: ["header", "cookie", "value"], context: c),
        let key = decodeKey(f, c), let valueNode = f.required("value"),
        let value = c.nonEmptyString(valueNode, "\(path).value")
      else { return nil }
      guard value.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7f }) else {
        c.error("'\(path).value' holds a control character, which no request header can carry", at: valueNode)
        return nil
      }
      return TrafficMatch(key: key, value: value)
    }
    if case .sequence(let items) = node.content, items.isEmpty {
      c.error("'spec.strategy.match' needs at least one match (or leave it out)", at: node)
      return nil
    }
    return matches
  }

  /// `{field: NAME, tolerance: NUMBER}`: both optional; a tolerance needs a field.
  static func decodeComparison(_ node: YAMLNode, _ c: DecodeContext) -> AnswerComparison? {
    let path = "spec.strategy.compare"
    guard let f = Fields(node, path: path, allowed: ["field", "tolerance"], context: c) else { return nil }
    var comparison = AnswerComparison()
    if let n = f["field"] {
      guard let field = c.nonEmptyString(n, "\(path).field") else { return nil }
      guard !field.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) else {
        c.error("'\(path).field' must be a JSON field name or a dotted path (output.score), got '\(field)'", at: n)
        return nil
      }
      comparison.field = field
    }
    if let n = f["tolerance"] {
      guard let tolerance = c.number(n, "\(path).tolerance") else { return nil }
      guard tolerance >= 0, tolerance.isFinite else {
        c.error("'\(path).tolerance' must be a number of at least 0, got \(tolerance)", at: n)
        return nil
      }
      guard comparison.field != nil else {
        c.error("'\(path).tolerance' applies to a 'field' (without one, whole answers are compared)", at: n)
        return nil
      }
      comparison.tolerance = tolerance
    }
    return comparison
  }

  /// `{header: NAME}` or `{cookie: NAME}`.
  static func decodeKey(_ node: YAMLNode, _ path: String, _ c: DecodeContext) -> TrafficKey? {
    guard let f = Fields(node, path: path, allowed: ["header", "cookie"], context: c) else { return nil }
    return decodeKey(f, c)
  }

  private static func decodeKey(_ f: Fields, _ c: DecodeContext) -> TrafficKey? {
    guard let (kind, node) = f.exactlyOne(of: ["header", "cookie"]),
      let name = c.nonEmptyString(node, f.path(kind))
    else { return nil }
    guard name.utf8.allSatisfy(isTokenByte) else {
      c.error(
        "'\(f.path(kind))' must be a \(kind) name (letters, digits and !#$%&'*+-.^_`|~), got '\(name)'", at: node)
      return nil
    }
    return kind == "header" ? .header(name) : .cookie(name)
  }

  /// A byte of an HTTP token (RFC 9110 §5.6.2), what header and cookie names are made of.
  private static func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"):
      return true
    default:
      return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
    }
  }
}
