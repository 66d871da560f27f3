/// libyaml's syntax errors in words a manifest author can act on: what libyaml found, and the
/// usual cause (an indentation that does not line up, a tab, a value that needs quotes), with the
/// line where the enclosing mapping or list starts.
enum YAMLSyntaxHint {
  /// - Parameters:
  ///   - problem: libyaml's problem (`mapping values are not allowed in this context`).
  ///   - context: what libyaml was parsing (`while parsing a block mapping`), if it says.
  ///   - contextLine: the line where that started (1-based).
  ///   - character: the character at the problem's position, if known.
  static func message(problem: String, context: String?, contextLine: Int?, character: UInt8?) -> String {
    let starts = contextLine.map { " (it starts at line \($0))" } ?? ""
    let structure =
      context.map { $0.contains("sequence") ? "list" : $0.contains("mapping") ? "mapping" : "structure" } ?? "structure"
    let hint: String
    switch problem {
    case _ where character == UInt8(ascii: "\t"):
      hint = "a tab: YAML indents with spaces only"
    case "mapping values are not allowed in this context":
      hint =
        "a 'key: value' where none can start: this line or the one before is not indented like the keys "
        + "around them (a key dedented out of its mapping ends it), or a value with ': ' in it needs quotes"
    case "did not find expected key":
      hint =
        "this line is not indented like the keys of the \(structure) around it\(starts): line it up with "
        + "them, or indent it under the key it belongs to"
    case "did not find expected '-' indicator":
      hint =
        "this line is not indented like the items of the list\(starts): each item starts with '- ' at the same column"
    case "could not find expected ':'":
      hint =
        "a key without ':' (or a plain value running over several lines): add ': ' after the key, or quote the value"
    case "found character that cannot start any token":
      hint = "a character that cannot start a value here (such as '@' or '`'): quote the value"
    case "found unexpected end of stream":
      hint = "the file ends inside a quoted value or a flow list or mapping: close the quote, ']' or '}'"
    default:
      return "YAML syntax error: \(problem)" + (context.map { " \($0)" } ?? "")
    }
    return "YAML syntax error: \(problem) — \(hint)"
  }
}
