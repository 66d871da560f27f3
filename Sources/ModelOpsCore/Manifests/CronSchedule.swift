/// A five-field cron expression (`minute hour day-of-month month day-of-week`), or a macro
/// such as `@daily`. Validated here; the next firing time is computed by the scheduler.
public struct CronSchedule: Sendable, Hashable, EncodedAsText {
  /// Allowed values of each field, as sets of integers.
  public var minutes: Set<Int>
  public var hours: Set<Int>
  public var daysOfMonth: Set<Int>
  public var months: Set<Int>
  /// 0 = Sunday … 6 = Saturday (7 is read as Sunday).
  public var daysOfWeek: Set<Int>
  /// Whether day-of-month / day-of-week were restricted (not `*`): when both are, cron fires on
  /// days matching either.
  public var restrictsDayOfMonth: Bool
  public var restrictsDayOfWeek: Bool
  public var description: String

  /// Parses the expression; on failure, says which field is wrong and why.
  public static func parse(_ text: String) -> Result<CronSchedule, CronError> {
    let macros = [
      "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
      "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    let expanded = text.hasPrefix("@") ? macros[text] : text
    guard let expanded else {
      return .failure(
        CronError(message: "unknown cron macro '\(text)' (use @hourly, @daily, @weekly, @monthly or @yearly)"))
    }
    let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    guard fields.count == 5 else {
      return .failure(
        CronError(
          message:
            "cron schedule '\(text)' has \(fields.count) fields, expected 5 (minute hour day-of-month month day-of-week)"
        ))
    }
    let months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    let days = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
    let specs: [(String, ClosedRange<Int>, [String], Int)] = [
      ("minute", 0...59, [], 0), ("hour", 0...23, [], 0), ("day-of-month", 1...31, [], 1),
      ("month", 1...12, months, 1), ("day-of-week", 0...7, days, 0),
    ]
    var sets: [Set<Int>] = []
    for (field, spec) in zip(fields, specs) {
      switch parseField(field, name: spec.0, range: spec.1, names: spec.2, nameBase: spec.3) {
      case .success(let set): sets.append(set)
      case .failure(let error): return .failure(error)
      }
    }
    var dow = sets[4]
    if dow.remove(7) != nil { dow.insert(0) }
    return .success(
      CronSchedule(
        minutes: sets[0], hours: sets[1], daysOfMonth: sets[2], months: sets[3], daysOfWeek: dow,
        restrictsDayOfMonth: !fields[2].hasPrefix("*"), restrictsDayOfWeek: !fields[4].hasPrefix("*"),
        description: text))
  }

  private static func parseField(
    _ field: String, name: String, range: ClosedRange<Int>, names: [String], nameBase: Int
  ) -> Result<Set<Int>, CronError> {
    func value(_ text: Substring) -> Int? {
      if let n = Int(text) { return n }
      if let i = names.firstIndex(of: text.uppercased()) { return i + nameBase }
      return nil
    }
    var result = Set<Int>()
    for part in field.split(separator: ",", omittingEmptySubsequences: false) {
      let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
      guard pieces.count <= 2 else { return .failure(CronError(message: "bad \(name) field '\(field)'")) }
      var step = 1
      if pieces.count == 2 {
        guard let s = Int(pieces[1]), s > 0 else {
          return .failure(CronError(message: "bad step '\(pieces[1])' in \(name) field '\(field)'"))
        }
        step = s
      }
      var low = range.lowerBound
      var high = range.upperBound
      let base = pieces[0]
      if base != "*" {
        let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(bounds.count), let lo = value(bounds[0]) else {
          return .failure(CronError(message: "bad \(name) field '\(field)'"))
        }
        low = lo
        high = lo
        if bounds.count == 2 {
          guard let hi = value(bounds[1]) else { return .failure(CronError(message: "bad \(name) field '\(field)'")) }
          high = hi
        } else if pieces.count == 2 {
          high = range.upperBound
        }
        guard range.contains(low), range.contains(high) else {
          return .failure(
            CronError(
              message: "\(name) value out of range in '\(field)' (allowed \(range.lowerBound)-\(range.upperBound))"))
        }
        guard low <= high else { return .failure(CronError(message: "\(name) range '\(base)' runs backwards")) }
      }
      result.formUnion(stride(from: low, through: high, by: step))
    }
    return .success(result)
  }
}

/// Why a cron expression was refused.
public struct CronError: Error, Sendable, Equatable {
  public var message: String
}
