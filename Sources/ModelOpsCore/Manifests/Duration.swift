import Foundation

/// A span of time written `500ms`, `30s`, `5m`, `2h` (or combined, `1h30m`), kept in milliseconds.
public struct ManifestDuration: Sendable, Hashable, Comparable, EncodedAsText {
  public var milliseconds: Int64

  public init(milliseconds: Int64) { self.milliseconds = milliseconds }
  public static func seconds(_ s: Int64) -> ManifestDuration { .init(milliseconds: s * 1000) }

  /// The span in seconds, for `Date` arithmetic and timeouts.
  public var timeInterval: TimeInterval { Double(milliseconds) / 1000 }

  /// Parses `500ms`, `30s`, `5m`, `2h`, `1d`, or a sequence of them (`1h30m`).
  public init?(parsing text: String) {
    let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
    var rest = Substring(text)
    var total: Int64 = 0
    guard !rest.isEmpty else { return nil }
    while !rest.isEmpty {
      let digits = rest.prefix { $0.isASCII && $0.isNumber }
      guard !digits.isEmpty, digits.count <= 12, let value = Int64(digits) else { return nil }
      rest = rest.dropFirst(digits.count)
      // `units` lists "ms" before "m", so "500ms" is not read as minutes.
      guard let unit = units.first(where: { rest.hasPrefix($0.0) })
      else { return nil }
      rest = rest.dropFirst(unit.0.count)
      let (product, overflow) = value.multipliedReportingOverflow(by: unit.1)
      let (sum, sumOverflow) = total.addingReportingOverflow(product)
      guard !overflow, !sumOverflow else { return nil }
      total = sum
    }
    self.milliseconds = total
  }

  public var description: String {
    var ms = milliseconds
    if ms == 0 { return "0s" }
    var out = ""
    for (unit, size) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1000)] where ms >= size {
      out += "\(ms / size)\(unit)"
      ms %= size
    }
    if ms > 0 { out += "\(ms)ms" }
    return out
  }

  public static func < (a: ManifestDuration, b: ManifestDuration) -> Bool { a.milliseconds < b.milliseconds }

}

/// A size in bytes written `512Mi`, `2Gi`, `100M` or a bare number of bytes.
public struct ByteSize: Sendable, Hashable, EncodedAsText {
  public var bytes: Int64
  public var description: String

  public init?(parsing text: String) {
    let suffixes: [(String, Int64)] = [
      ("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40),
      ("k", 1000), ("K", 1000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000),
    ]
    let digits = text.prefix { $0.isASCII && $0.isNumber }
    guard !digits.isEmpty, digits.count <= 15, let value = Int64(digits) else { return nil }
    let unit = text.dropFirst(digits.count)
    var factor: Int64 = 1
    if !unit.isEmpty {
      guard let match = suffixes.first(where: { $0.0 == unit }) else { return nil }
      factor = match.1
    }
    let (product, overflow) = value.multipliedReportingOverflow(by: factor)
    guard !overflow, product > 0 else { return nil }
    self.bytes = product
    self.description = text
  }

}
