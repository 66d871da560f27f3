import Foundation

/// One registered version as `agent models` lists it.
public struct VersionSummary: Sendable, Hashable {
  public var model: String
  public var version: Int
  public var aliases: [String]
  public var metrics: [String: Double]
  public var createdAt: Date
  public var run: String?
  public var commit: String?
  /// Why it is not (or no longer) served: rejected, garbage-collected.
  public var note: String?

  public init(
    model: String, version: Int, aliases: [String], metrics: [String: Double], createdAt: Date, run: String?,
    commit: String?, note: String?
  ) {
    self.model = model
    self.version = version
    self.aliases = aliases
    self.metrics = metrics
    self.createdAt = createdAt
    self.run = run
    self.commit = commit
    self.note = note
  }
}

/// `agent models` as a table: a line per version, newest first per model, with its aliases, a
/// column per metric (the names any listed version has), when it was registered, the run it came
/// from (`agent logs RUN`), and a note (rejected, garbage-collected). The commit and the rest of
/// the lineage are in the JSON and in `agent models NAME --version N`, which shows one version
/// whole.
public enum ModelsTable {
  public static func render(
    _ versions: [VersionSummary], width: Int? = StatusTable.defaultWidth, timeZone: TimeZone = .current
  )
    -> String
  {
    let metrics = Set(versions.flatMap(\.metrics.keys)).sorted()
    let header =
      ["MODEL", "VERSION", "ALIASES"] + metrics.map { $0.uppercased() } + ["REGISTERED", "RUN", "NOTE"]
    let formatter = DateFormatter()
    formatter.dateFormat = "yyyy-MM-dd HH:mm"
    formatter.timeZone = timeZone
    formatter.locale = Locale(identifier: "en_US_POSIX")
    let sorted = versions.sorted { ($0.model, -$0.version) < ($1.model, -$1.version) }
    let rows = sorted.map { v -> [String] in
      let aliases = v.aliases.isEmpty ? "-" : v.aliases.joined(separator: ",")
      let values: [String] = metrics.map { name in v.metrics[name].map(format) ?? "-" }
      let tail: [String] = [formatter.string(from: v.createdAt), v.run ?? "-", v.note ?? ""]
      return [v.model, "v\(v.version)", aliases] + values + tail
    }
    return TextTable.render(header: header, rows: rows, width: width)
  }

  /// A metric with at most four decimals, no trailing zeros.
  public static func format(_ value: Double) -> String {
    guard value.isFinite else { return "\(value)" }
    var text = String(format: "%.4f", value)
    while text.hasSuffix("0") { text.removeLast() }
    if text.hasSuffix(".") { text.removeLast() }
    return text
  }
}
