/// A composed YAML node with the position it started at.
///
/// Aliases are resolved to the anchored node (sharing storage, never copied), and merge keys
/// (`<<`) are applied, so a decoder sees plain scalars, sequences and mappings only.
public struct YAMLNode: Sendable {
  public enum Content: Sendable {
    case scalar(YAMLScalar)
    case sequence([YAMLNode])
    case mapping([Pair])
  }

  public struct Pair: Sendable {
    public var key: YAMLNode
    public var value: YAMLNode
  }

  public var content: Content
  /// 1-based line.
  public var line: Int
  /// 1-based column.
  public var column: Int

  public init(_ content: Content, line: Int, column: Int) {
    self.content = content
    self.line = line
    self.column = column
  }

  /// The scalar, when this node is one.
  public var scalar: YAMLScalar? {
    if case .scalar(let s) = content { return s }
    return nil
  }

  /// Whether this node is a YAML null (`~`, `null` or nothing at all).
  public var isNull: Bool { scalar?.resolved == .null }

  /// A short name of the node's type for error messages ("a mapping", "a string", ...).
  public var typeDescription: String {
    switch content {
    case .sequence: return "a list"
    case .mapping: return "a mapping"
    case .scalar(let s): return s.resolved.typeDescription
    }
  }
}

/// A scalar's text with the style it was written in, which decides how it resolves.
public struct YAMLScalar: Sendable {
  public enum Style: Sendable {
    case plain, singleQuoted, doubleQuoted, literal, folded
  }

  public var value: String
  public var style: Style
  /// An explicit `!!str`-style tag forced a string.
  public var forcedString: Bool

  public init(_ value: String, style: Style = .plain, forcedString: Bool = false) {
    self.value = value
    self.style = style
    self.forcedString = forcedString
  }
}
