import CYAML

/// Limits that keep hostile YAML from costing more than a bad error message.
public struct YAMLLimits: Sendable, Hashable {
  /// Deepest nesting of sequences and mappings.
  public var maxDepth = 64
  /// Most documents (`---`) in one stream.
  public var maxDocuments = 10_000
  /// Most nodes that aliases may re-use in one stream (billion-laughs guard).
  public var maxAliasedNodes = 100_000

  public init() {}
}

/// A YAML document of a stream, with the line its root starts on.
public struct YAMLDocument: Sendable {
  public var root: YAMLNode
  /// 1-based index of the document in its stream.
  public var index: Int
}

/// A stream that could not be composed; located at the offending token.
public struct YAMLError: Error, Sendable, Equatable {
  public var line: Int
  public var column: Int
  public var message: String

  public init(line: Int, column: Int, message: String) {
    self.line = line
    self.column = column
    self.message = message
  }
}

/// Composes YAML documents from libyaml's event stream.
///
/// Iterative (an explicit stack, never recursion), so deep nesting cannot overflow the stack; the
/// depth, document count and alias re-use are checked as events arrive, so a hostile stream fails
/// at the event that crosses a limit instead of after expanding.
public enum YAMLComposer {
  public static func compose(_ bytes: [UInt8], limits: YAMLLimits = YAMLLimits()) throws(YAMLError)
    -> [YAMLDocument]
  {
    var parser = yaml_parser_t()
    guard yaml_parser_initialize(&parser) == 1 else {
      throw YAMLError(line: 1, column: 1, message: "out of memory starting the YAML parser")
    }
    defer { yaml_parser_delete(&parser) }
    let result: Result<[YAMLDocument], YAMLError> = bytes.withUnsafeBufferPointer { buffer in
      yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
      yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
      var state = ComposerState(limits: limits)
      do throws(YAMLError) {
        try state.run(&parser)
        return .success(state.documents)
      } catch {
        return .failure(error)
      }
    }
    return try result.get()
  }
}

private struct Frame {
  var isMapping: Bool
  /// Sequence items, or mapping keys and values alternating.
  var items: [YAMLNode] = []
  var line: Int
  var column: Int
  var anchor: String?
  /// Nodes in this subtree, counting what aliases re-use.
  var size = 1
  var hasMergeKey = false
}

private struct ComposerState {
  let limits: YAMLLimits
  var documents: [YAMLDocument] = []
  var stack: [Frame] = []
  var anchors: [String: (node: YAMLNode, size: Int)] = [:]
  var aliasedNodes = 0
  var documentRoot: YAMLNode?

  init(limits: YAMLLimits) { self.limits = limits }

  mutating func run(_ parser: inout yaml_parser_t) throws(YAMLError) {
    var event = yaml_event_t()
    while true {
      guard yaml_parser_parse(&parser, &event) == 1 else {
        throw Self.syntaxError(parser)
      }
      defer { yaml_event_delete(&event) }
      let line = Int(event.start_mark.line) + 1
      let column = Int(event.start_mark.column) + 1
      switch event.type {
      case YAML_STREAM_END_EVENT:
        return
      case YAML_DOCUMENT_START_EVENT:
        guard documents.count < limits.maxDocuments else {
          throw YAMLError(
            line: line, column: column,
            message: "more than \(limits.maxDocuments) documents in one file")
        }
        anchors.removeAll(keepingCapacity: true)
        documentRoot = nil
      case YAML_DOCUMENT_END_EVENT:
        if let root = documentRoot {
          documents.append(YAMLDocument(root: root, index: documents.count + 1))
        }
      case YAML_SCALAR_EVENT:
        let data = event.data.scalar
        let value = Self.string(data.value, count: data.length)
        let tag = Self.optionalString(data.tag)
        let forced = try Self.checkScalarTag(tag, line: line, column: column)
        let scalar = YAMLScalar(value, style: Self.style(data.style), forcedString: forced)
        let node = YAMLNode(.scalar(scalar), line: line, column: column)
        if let anchor = Self.optionalString(data.anchor) { anchors[anchor] = (node, 1) }
        try add(node, size: 1)
      case YAML_ALIAS_EVENT:
        let name = Self.optionalString(event.data.alias.anchor) ?? ""
        guard let target = anchors[name] else {
          throw YAMLError(line: line, column: column, message: "unknown alias '*\(name)'")
        }
        aliasedNodes += target.size
        guard aliasedNodes <= limits.maxAliasedNodes else {
          throw YAMLError(
            line: line, column: column,
            message:
              "aliases expand to more than \(limits.maxAliasedNodes) nodes (a YAML alias bomb?)")
        }
        try add(target.node, size: target.size)
      case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
        let isMapping = event.type == YAML_MAPPING_START_EVENT
        guard stack.count < limits.maxDepth else {
          throw YAMLError(
            line: line, column: column,
            message: "nesting deeper than \(limits.maxDepth) levels")
        }
        let anchorPointer = isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor
        let tagPointer = isMapping ? event.data.mapping_start.tag : event.data.sequence_start.tag
        if let tag = Self.optionalString(tagPointer), tag != "tag:yaml.org,2002:map",
          tag != "tag:yaml.org,2002:seq", tag != "!"
        {
          throw YAMLError(line: line, column: column, message: "unsupported YAML tag '\(tag)'")
        }
        stack.append(
          Frame(
            isMapping: isMapping, line: line, column: column,
            anchor: Self.optionalString(anchorPointer)))
      case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
        guard let frame = stack.popLast() else { break }
        let node: YAMLNode
        if frame.isMapping {
          node = YAMLNode(.mapping(Self.pairs(of: frame)), line: frame.line, column: frame.column)
        } else {
          node = YAMLNode(.sequence(frame.items), line: frame.line, column: frame.column)
        }
        if let anchor = frame.anchor { anchors[anchor] = (node, frame.size) }
        try add(node, size: frame.size)
      default:
        break
      }
    }
  }

  /// Attaches a finished node to the collection being built, or makes it the document's root.
  private mutating func add(_ node: YAMLNode, size: Int) throws(YAMLError) {
    guard !stack.isEmpty else {
      documentRoot = node
      return
    }
    let last = stack.count - 1
    if stack[last].isMapping, stack[last].items.count % 2 == 0, let key = node.scalar,
      key.style == .plain, key.value == "<<"
    {
      stack[last].hasMergeKey = true
    }
    stack[last].items.append(node)
    let (sum, overflow) = stack[last].size.addingReportingOverflow(size)
    stack[last].size = overflow ? Int.max : sum
  }

  /// Mapping pairs, with merge keys (`<<: *base`) applied: explicit keys win, then earlier merges.
  private static func pairs(of frame: Frame) -> [YAMLNode.Pair] {
    var pairs: [YAMLNode.Pair] = []
    pairs.reserveCapacity(frame.items.count / 2)
    var index = 0
    while index + 1 < frame.items.count {
      pairs.append(YAMLNode.Pair(key: frame.items[index], value: frame.items[index + 1]))
      index += 2
    }
    guard frame.hasMergeKey else { return pairs }
    let isMerge: (YAMLNode.Pair) -> Bool = { $0.key.scalar?.style == .plain && $0.key.scalar?.value == "<<" }
    var result = pairs.filter { !isMerge($0) }
    var seen = Set(result.compactMap { $0.key.scalar?.value })
    for merge in pairs where isMerge(merge) {
      let sources: [YAMLNode]
      switch merge.value.content {
      case .mapping: sources = [merge.value]
      case .sequence(let items): sources = items
      case .scalar: sources = []
      }
      for source in sources {
        guard case .mapping(let inherited) = source.content else {
          // Left in place: the decoder reports '<<' as an unknown field with its location.
          result.append(merge)
          continue
        }
        for pair in inherited {
          guard let key = pair.key.scalar?.value, !seen.contains(key) else { continue }
          seen.insert(key)
          result.append(pair)
        }
      }
    }
    return result
  }

  private static func checkScalarTag(_ tag: String?, line: Int, column: Int) throws(YAMLError) -> Bool {
    guard let tag else { return false }
    switch tag {
    case "tag:yaml.org,2002:str", "!": return true
    case "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
      "tag:yaml.org,2002:null":
      return false
    default:
      throw YAMLError(line: line, column: column, message: "unsupported YAML tag '\(tag)'")
    }
  }

  private static func style(_ style: yaml_scalar_style_t) -> YAMLScalar.Style {
    switch style {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE: return .singleQuoted
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE: return .doubleQuoted
    case YAML_LITERAL_SCALAR_STYLE: return .literal
    case YAML_FOLDED_SCALAR_STYLE: return .folded
    default: return .plain
    }
  }

  private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?, count: Int) -> String {
    guard let pointer, count > 0 else { return "" }
    return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
  }

  private static func optionalString(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
    guard let pointer else { return nil }
    return String(cString: pointer)
  }

  private static func syntaxError(_ parser: yaml_parser_t) -> YAMLError {
    let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
    let context = parser.context.map { String(cString: $0) }
    let offset = Int(parser.problem_mark.index)
    var character: UInt8?
    if let start = parser.input.string.start, offset >= 0,
      offset < Int(bitPattern: UInt(bitPattern: parser.input.string.end) &- UInt(bitPattern: start))
    {
      character = start[offset]
    }
    return YAMLError(
      line: Int(parser.problem_mark.line) + 1, column: Int(parser.problem_mark.column) + 1,
      message: YAMLSyntaxHint.message(
        problem: problem, context: context, contextLine: context == nil ? nil : Int(parser.context_mark.line) + 1,
        character: character))
  }
}
