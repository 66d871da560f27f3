/// Patterns of a `.modelopsignore` file, in gitignore syntax.
///
/// Supported: comments, `!` negation, a trailing `/` for folders only, patterns with a `/`
/// anchored to the manifests root, `*`, `?`, `[a-z]` classes, `**` across folders, `\` escapes.
/// As in git, the last matching pattern wins, and nothing inside an ignored folder is re-included.
public struct IgnoreRules: Sendable {
  struct Rule: Sendable {
    var segments: [String]
    var negated: Bool
    var folderOnly: Bool
  }
  var rules: [Rule] = []

  public init() {}

  public init(parsing text: String) {
    for rawLine in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r" }) {
      var line = Substring(rawLine)
      while line.last == " ", !line.dropLast().hasSuffix("\\") { line = line.dropLast() }
      guard !line.isEmpty, !line.hasPrefix("#") else { continue }
      var negated = false
      if line.hasPrefix("!") {
        negated = true
        line = line.dropFirst()
      }
      var folderOnly = false
      if line.hasSuffix("/") {
        folderOnly = true
        line = line.dropLast()
      }
      let anchored = line.dropLast().contains("/")
      if line.hasPrefix("/") { line = line.dropFirst() }
      guard !line.isEmpty else { continue }
      var segments = line.split(separator: "/").map(String.init)
      if !anchored { segments.insert("**", at: 0) }
      rules.append(Rule(segments: segments, negated: negated, folderOnly: folderOnly))
    }
  }

  /// Whether the path (relative to the manifests root) is ignored.
  public func isIgnored(_ path: String, isFolder: Bool) -> Bool {
    if rules.isEmpty { return false }
    let components = path.split(separator: "/").map(String.init)
    var ignored = false
    for rule in rules where !rule.folderOnly || isFolder {
      if Self.match(rule.segments[...], components[...]) { ignored = !rule.negated }
    }
    return ignored
  }

  private static func match(_ pattern: ArraySlice<String>, _ path: ArraySlice<String>) -> Bool {
    guard let first = pattern.first else { return path.isEmpty }
    if first == "**" {
      let rest = pattern.dropFirst()
      var tail = path
      while true {
        if match(rest, tail) { return true }
        guard !tail.isEmpty else { return false }
        tail = tail.dropFirst()
      }
    }
    guard let component = path.first, glob(Array(first.utf8)[...], Array(component.utf8)[...]) else { return false }
    return match(pattern.dropFirst(), path.dropFirst())
  }

  /// Matches one path component against one glob segment.
  static func glob(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
    var p = pattern
    var t = text
    while let c = p.first {
      switch c {
      case UInt8(ascii: "*"):
        let rest = p.drop { $0 == UInt8(ascii: "*") }
        var tail = t
        while true {
          if glob(rest, tail) { return true }
          guard !tail.isEmpty else { return false }
          tail = tail.dropFirst()
        }
      case UInt8(ascii: "?"):
        guard !t.isEmpty else { return false }
        p = p.dropFirst()
        t = t.dropFirst()
      case UInt8(ascii: "["):
        guard let ch = t.first, let (matched, rest) = matchClass(p.dropFirst(), ch) else { return false }
        guard matched else { return false }
        p = rest
        t = t.dropFirst()
      default:
        var literal = c
        if c == UInt8(ascii: "\\"), p.count > 1 {
          p = p.dropFirst()
          literal = p.first ?? c
        }
        guard t.first == literal else { return false }
        p = p.dropFirst()
        t = t.dropFirst()
      }
    }
    return t.isEmpty
  }

  /// `[...]` after the `[`: whether `ch` is in the class, and the pattern after `]`.
  private static func matchClass(_ pattern: ArraySlice<UInt8>, _ ch: UInt8) -> (Bool, ArraySlice<UInt8>)? {
    var p = pattern
    var negate = false
    if let f = p.first, f == UInt8(ascii: "!") || f == UInt8(ascii: "^") {
      negate = true
      p = p.dropFirst()
    }
    var matched = false
    var first = true
    while let c = p.first {
      if c == UInt8(ascii: "]"), !first { return (matched != negate, p.dropFirst()) }
      first = false
      let after = p.dropFirst()
      if after.first == UInt8(ascii: "-"), let hi = after.dropFirst().first, hi != UInt8(ascii: "]") {
        if c <= ch && ch <= hi { matched = true }
        p = after.dropFirst(2)
      } else {
        if c == ch { matched = true }
        p = after
      }
    }
    return nil
  }
}
