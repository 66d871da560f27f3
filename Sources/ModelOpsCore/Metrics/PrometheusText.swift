/// One sample of the Prometheus text exposition format (version 0.0.4).
public struct MetricSample: Sendable, Hashable {
  public var name: String
  public var labels: [String: String]
  public var value: Double
  /// Milliseconds since the epoch, when the exposition gave one.
  public var timestamp: Int64?

  public init(name: String, labels: [String: String] = [:], value: Double, timestamp: Int64? = nil) {
    self.name = name
    self.labels = labels
    self.value = value
    self.timestamp = timestamp
  }
}

/// A metric family: its `# TYPE`, `# HELP` and samples.
public struct MetricFamily: Sendable, Hashable {
  public enum Kind: String, Sendable, Hashable, CaseIterable {
    case counter, gauge, histogram, summary, untyped
  }

  public var name: String
  public var kind: Kind
  public var help: String?
  public var samples: [MetricSample]
}

/// A line of an exposition that does not follow the format, with its number (1-based).
public struct ExpositionError: Error, Sendable, Hashable, CustomStringConvertible {
  public var line: Int
  public var message: String

  public init(line: Int, message: String) {
    self.line = line
    self.message = message
  }

  public var description: String { "line \(line): \(message)" }
}

/// A strict parser of the Prometheus text exposition format: metric and label names, escapes in
/// label values and help text, `NaN`/`±Inf`, timestamps, one `TYPE` per family given before its
/// samples, histogram and summary sample names and their `le`/`quantile` labels, a histogram's
/// `+Inf` bucket, and no sample given twice. The first violation is reported with its line.
public enum PrometheusText {
  /// Largest exposition read (a replica answering more is refused, not buffered).
  public static let maxBytes = 8 << 20

  public static func parse(_ text: String) throws(ExpositionError) -> [MetricFamily] {
    var parser = Parser()
    var number = 0
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      number += 1
      do {
        try parser.line(line.hasSuffix("\r") ? line.dropLast() : line)
      } catch let message as Message {
        throw ExpositionError(line: number, message: message.text)
      } catch {
        throw ExpositionError(line: number, message: "\(error)")
      }
    }
    do { try parser.finish() } catch let message as Message {
      throw ExpositionError(line: number, message: message.text)
    } catch {
      throw ExpositionError(line: number, message: "\(error)")
    }
    return parser.families
  }

  /// Every sample, in exposition order.
  public static func samples(_ text: String) throws(ExpositionError) -> [MetricSample] {
    try parse(text).flatMap(\.samples)
  }

  struct Message: Error {
    var text: String
    init(_ text: String) { self.text = text }
  }

  struct Parser {
    var families: [MetricFamily] = []
    var index: [String: Int] = [:]
    var seen: Set<[String]> = []
    var sampled: Set<String> = []

    mutating func line(_ line: Substring) throws {
      let trimmed = line.drop { $0 == " " || $0 == "\t" }
      if trimmed.isEmpty { return }
      if trimmed.hasPrefix("#") { return try comment(trimmed.dropFirst()) }
      try sample(trimmed)
    }

    mutating func comment(_ rest: Substring) throws {
      let words = rest.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
      guard words.count >= 2, words[0] == "HELP" || words[0] == "TYPE" else { return }  // a plain comment
      let name = String(words[1])
      guard PrometheusText.isMetricName(name) else { throw Message("invalid metric name '\(name)' in # \(words[0])") }
      if words[0] == "HELP" {
        let help = try PrometheusText.unescape(words.count > 2 ? words[2] : "", quotes: false)
        let family = self.family(name)
        if families[family].help != nil { throw Message("a second # HELP for \(name)") }
        families[family].help = help
        return
      }
      guard words.count == 3, let kind = MetricFamily.Kind(rawValue: String(words[2])) else {
        throw Message(
          "# TYPE \(name) needs one of \(MetricFamily.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      if sampled.contains(name) { throw Message("# TYPE \(name) after its samples") }
      if let existing = index[name], families[existing].kind != .untyped {
        throw Message("# TYPE \(name) given twice")
      }
      families[family(name)].kind = kind
    }

    mutating func family(_ name: String) -> Int {
      if let existing = index[name] { return existing }
      families.append(MetricFamily(name: name, kind: .untyped, help: nil, samples: []))
      index[name] = families.count - 1
      return families.count - 1
    }

    /// The family a sample belongs to: `x_bucket`, `x_sum`, `x_count` of a histogram `x`, etc.
    func owner(of name: String) -> Int? {
      if let own = index[name], families[own].kind != .histogram { return own }
      for suffix in ["_bucket", "_sum", "_count", "_created"] where name.hasSuffix(suffix) {
        let base = String(name.dropLast(suffix.count))
        if let family = index[base], [.histogram, .summary].contains(families[family].kind) {
          if suffix == "_bucket", families[family].kind == .summary { return nil }
          return family
        }
      }
      return nil
    }

    mutating func sample(_ text: Substring) throws {
      var rest = text
      let name = String(rest.prefix { PrometheusText.isNameCharacter($0) })
      guard PrometheusText.isMetricName(name) else { throw Message("a sample must start with a metric name") }
      rest = rest.dropFirst(name.count)
      var labels: [String: String] = [:]
      if rest.first == "{" { labels = try PrometheusText.labels(&rest) }
      let fields = rest.split(whereSeparator: { $0 == " " || $0 == "\t" })
      guard fields.count == 1 || fields.count == 2 else {
        throw Message("after \(name) and its labels: a value and an optional timestamp")
      }
      guard let value = PrometheusText.number(fields[0]) else { throw Message("'\(fields[0])' is not a number") }
      var timestamp: Int64?
      if fields.count == 2 {
        guard let ms = Int64(fields[1]) else { throw Message("'\(fields[1])' is not a timestamp (integer ms)") }
        timestamp = ms
      }
      let family: Int
      if let owner = owner(of: name) {
        family = owner
      } else {
        if index[name] != nil {
          throw Message(
            "\(name) is a \(families[index[name] ?? 0].kind.rawValue): its samples are named _bucket/_sum/_count")
        }
        family = self.family(name)
      }
      let kind = families[family].kind
      if kind == .histogram, name.hasSuffix("_bucket") {
        guard let le = labels["le"], PrometheusText.number(Substring(le)) != nil else {
          throw Message("histogram bucket \(name) needs an 'le' label holding a number")
        }
      }
      if kind == .summary, name == families[family].name {
        guard let q = labels["quantile"], PrometheusText.number(Substring(q)) != nil else {
          throw Message("summary sample \(name) needs a 'quantile' label holding a number")
        }
      }
      if kind == .counter, value < 0 { throw Message("counter \(name) is negative") }
      let key = [name] + labels.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }
      guard seen.insert(key).inserted else { throw Message("\(name) with these labels is given twice") }
      sampled.insert(families[family].name)
      families[family].samples.append(MetricSample(name: name, labels: labels, value: value, timestamp: timestamp))
    }

    /// A histogram must end its buckets with `le="+Inf"` for every label set.
    func finish() throws {
      for family in families where family.kind == .histogram {
        var groups: [[String: String]: Bool] = [:]
        for sample in family.samples where sample.name == family.name + "_bucket" {
          var others = sample.labels
          let le = others.removeValue(forKey: "le")
          groups[others, default: false] = groups[others, default: false] || le.flatMap { Double($0) } == .infinity
        }
        if groups.values.contains(false) { throw Message("histogram \(family.name) has no le=\"+Inf\" bucket") }
      }
    }
  }

  static func isNameCharacter(_ c: Character) -> Bool {
    c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == ":")
  }

  static func isMetricName(_ name: String) -> Bool {
    guard let first = name.first, !first.isNumber else { return false }
    return name.allSatisfy(isNameCharacter)
  }

  static func isLabelName(_ name: String) -> Bool {
    guard let first = name.first, !first.isNumber else { return false }
    return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
  }

  /// `{a="1",b="x\"y"}` (a trailing comma allowed); consumes it from `rest`.
  static func labels(_ rest: inout Substring) throws -> [String: String] {
    rest = rest.dropFirst()
    var labels: [String: String] = [:]
    while true {
      rest = rest.drop { $0 == " " }
      if rest.first == "}" {
        rest = rest.dropFirst()
        return labels
      }
      let name = String(rest.prefix { $0 != "=" && $0 != "}" && $0 != "," && $0 != " " })
      guard isLabelName(name) else { throw Message("invalid label name '\(name)'") }
      rest = rest.dropFirst(name.count).drop { $0 == " " }
      guard rest.first == "=" else { throw Message("label \(name) needs =\"value\"") }
      rest = rest.dropFirst().drop { $0 == " " }
      guard rest.first == "\"" else { throw Message("the value of label \(name) must be quoted") }
      rest = rest.dropFirst()
      var raw = Substring()
      var escaped = false
      var closed = false
      var end = rest.startIndex
      for i in rest.indices {
        let c = rest[i]
        if escaped {
          escaped = false
        } else if c == "\\" {
          escaped = true
        } else if c == "\"" {
          raw = rest[rest.startIndex..<i]
          end = rest.index(after: i)
          closed = true
          break
        }
      }
      guard closed else { throw Message("the value of label \(name) is not closed") }
      guard labels[name] == nil else { throw Message("label \(name) given twice") }
      labels[name] = try unescape(raw, quotes: true)
      rest = rest[end...].drop { $0 == " " }
      if rest.first == "," {
        rest = rest.dropFirst()
      } else if rest.first != "}" {
        throw Message("labels are separated by commas and closed with }")
      }
    }
  }

  /// `\\`, `\n` (and `\"` in label values); any other escape is an error.
  static func unescape(_ text: Substring, quotes: Bool) throws -> String {
    var out = ""
    var escaped = false
    for c in text {
      if escaped {
        switch c {
        case "\\": out.append("\\")
        case "n": out.append("\n")
        case "\"" where quotes: out.append("\"")
        default: throw Message("unknown escape \\\(c)")
        }
        escaped = false
      } else if c == "\\" {
        escaped = true
      } else {
        out.append(c)
      }
    }
    if escaped { throw Message("a lone backslash at the end") }
    return out
  }

  /// A Go-style float: digits, exponents, `NaN`, `+Inf`, `-Inf`.
  static func number(_ text: Substring) -> Double? {
    switch text {
    case "NaN": return .nan
    case "+Inf", "Inf": return .infinity
    case "-Inf": return -.infinity
    default:
      guard text.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }) else { return nil }
      return Double(text)
    }
  }
}
