/// A plan with what it was computed from: what `agent plan` renders.
public struct PlanReport: Sendable, Hashable {
  public var plan: Plan
  /// The commit the plan compares against in pull-request mode (`--base`).
  public var base: String?
  /// What changed in git between base and head, in pull-request mode.
  public var changes: [ResourceChange]?
  /// Things the reader must know about how the plan was computed.
  public var notes: [String]

  public init(plan: Plan, base: String? = nil, changes: [ResourceChange]? = nil, notes: [String] = []) {
    self.plan = plan
    self.base = base
    self.changes = changes
    self.notes = notes
  }
}

extension Action {
  /// The plan symbol: `+` create, `~` change, `-` delete, `>` run, `↺` rollback, `!` hold.
  public var symbol: String {
    switch verb {
    case .train: return ">"
    case .register: return "+"
    case .promote: return from == nil ? "+" : "~"
    case .rollout: return from == nil ? "+" : "~"
    case .scale: return "~"
    case .replace: return "-/+"
    case .rollback: return "↺"
    case .demote, .delete: return "-"
    case .hold: return "!"
    }
  }

  /// `train`, `register v4`, `promote staging=v3 → staging=v4`, …
  public var headline: String {
    var text = verb.rawValue
    if verb == .rollout, from == nil { text = "create" }
    switch (from, to) {
    case (let f?, let t?): text += " \(f) → \(t)"
    case (nil, let t?): text += " \(t)"
    case (let f?, nil): text += " \(f)"
    default: break
    }
    return text
  }
}

extension Plan {
  /// `Plan: 1 to train, 1 to promote, 1 to roll out, 0 to delete.` plus any other kind of action.
  public var summaryLine: String {
    var parts = [
      "\(count(.train)) to train", "\(count(.promote)) to promote", "\(count(.rollout)) to roll out",
      "\(count(.delete)) to delete",
    ]
    let extra: [(Action.Verb, String)] = [
      (.scale, "to scale"), (.replace, "to replace"), (.rollback, "to roll back"), (.demote, "to demote"),
      (.hold, "held"),
    ]
    for (verb, label) in extra where count(verb) > 0 { parts.append("\(count(verb)) \(label)") }
    return "Plan: " + parts.joined(separator: ", ") + "."
  }

  /// The legend of the symbols this plan uses, in a fixed order.
  public var legend: [(String, String)] {
    let all = [
      ("+", "create"), ("~", "change"), ("-", "delete"), ("-/+", "replace"), (">", "run"), ("↺", "roll back"),
      ("!", "hold"),
    ]
    let used = Set(actions.map(\.symbol))
    return all.filter { used.contains($0.0) }
  }
}

/// Styles resolved at the end of rendering: ANSI on a terminal, nothing elsewhere.
struct Styler {
  let colour: Bool

  func apply(_ code: String, _ text: String) -> String { colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }

  func symbol(_ symbol: String) -> String {
    switch symbol {
    case "+": return apply("32", symbol)
    case "-", "-/+": return apply("31", symbol)
    case "~": return apply("33", symbol)
    case ">": return apply("36", symbol)
    case "↺", "!": return apply("35", symbol)
    default: return symbol
    }
  }

  func bold(_ text: String) -> String { apply("1", text) }
}
