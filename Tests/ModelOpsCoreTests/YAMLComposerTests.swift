import ModelOpsCore
import Testing

@Suite struct YAMLComposerTests {
  private func compose(_ text: String, limits: YAMLLimits = YAMLLimits()) throws -> [YAMLDocument] {
    try YAMLComposer.compose(Array(text.utf8), limits: limits)
  }

  @Test(arguments: [
    ("42", ResolvedScalar.int(42)), ("-7", .int(-7)), ("0x1F", .int(31)), ("0o17", .int(15)),
    ("0.5", .float(0.5)), ("1e3", .float(1000)), (".5", .float(0.5)),
    ("true", .bool(true)), ("False", .bool(false)), ("~", .null), ("null", .null), ("", .null),
    ("yes", .string("yes")), ("off", .string("off")), ("1:30", .string("1:30")),
    ("127.0.0.1:9000", .string("127.0.0.1:9000")), ("1.0.0", .string("1.0.0")), ("30s", .string("30s")),
  ])
  func plainScalarsResolveByTheYAML12CoreSchema(text: String, expected: ResolvedScalar) {
    #expect(YAMLScalar(text).resolved == expected)
  }

  @Test func quotedAndBlockScalarsAndStrTagsAreAlwaysStrings() throws {
    let docs = try compose("a: \"1\"\nb: '2'\nc: |\n  3\nd: !!str 4\n")
    guard case .mapping(let pairs) = docs.first?.root.content else {
      Issue.record("not a mapping")
      return
    }
    let values = pairs.map { $0.value.scalar?.resolved }
    #expect(values == [.string("1"), .string("2"), .string("3\n"), .string("4")])
  }

  @Test func nodesCarryOneBasedLineAndColumn() throws {
    let docs = try compose("first: 1\nsecond:\n  inner: x\n")
    guard case .mapping(let pairs) = docs.first?.root.content, pairs.count == 2,
      case .mapping(let inner) = pairs[1].value.content, let value = inner.first?.value
    else {
      Issue.record("unexpected shape")
      return
    }
    #expect((pairs[1].key.line, pairs[1].key.column) == (2, 1))
    #expect((value.line, value.column) == (3, 10))
  }

  @Test func documentsAreSplitAndEmptyOnesKeptAsNull() throws {
    let docs = try compose("a: 1\n---\n---\nb: 2\n")
    #expect(docs.count == 3)
    #expect(docs[1].root.isNull)
    #expect(docs.map(\.index) == [1, 2, 3])
  }

  @Test func mergeKeysApplyWithExplicitKeysWinning() throws {
    let docs = try compose("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n")
    guard case .mapping(let pairs) = docs.first?.root.content, case .mapping(let merged) = pairs[1].value.content
    else {
      Issue.record("unexpected shape")
      return
    }
    let flat = merged.map { ($0.key.scalar?.value ?? "", $0.value.scalar?.value ?? "") }
    #expect(flat.map(\.0) == ["y", "x"])
    #expect(flat.map(\.1) == ["3", "1"])
  }

  @Test func anUnknownAliasIsLocated() {
    #expect(throws: YAMLError(line: 1, column: 4, message: "unknown alias '*nope'")) {
      try compose("a: *nope\n")
    }
  }

  @Test func aBillionLaughsBombFailsAtTheAliasThatCrossesTheBudget() {
    var lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in 1...9 {
      lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]")
    }
    do {
      _ = try YAMLComposer.compose(Array(lines.joined(separator: "\n").utf8))
      Issue.record("the bomb was composed")
    } catch {
      #expect(error.message.contains("alias bomb"))
      #expect(error.line <= 6)
    }
  }

  @Test func nestingDeeperThanTheLimitFailsWithoutRecursing() {
    let deep = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
    #expect(throws: YAMLError(line: 1, column: 65, message: "nesting deeper than 64 levels")) {
      try compose(deep)
    }
  }

  @Test func nestingAtTheLimitIsAccepted() throws {
    let text = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
    #expect(try compose(text).count == 1)
  }

  @Test func tooManyDocumentsFail() {
    var limits = YAMLLimits()
    limits.maxDocuments = 3
    #expect(throws: YAMLError(line: 7, column: 1, message: "more than 3 documents in one file")) {
      try compose("---\na\n---\nb\n---\nc\n---\nd\n", limits: limits)
    }
  }

  @Test func syntaxErrorsAndBadBytesAreLocated() {
    #expect(throws: YAMLError.self) { try compose("a: [1, 2\n") }
    #expect(throws: YAMLError.self) { try YAMLComposer.compose([0x61, 0x3A, 0x20, 0xFF, 0xFE, 0x0A]) }
  }
}
