import Foundation

/// Renders a plan report for people (text, markdown) and machines (JSON).
public enum PlanRenderer {
  /// Terraform-like text: a legend of the symbols used, one block per action with its reason,
  /// and the summary line (or an explicit "No changes.").
  public static func text(_ report: PlanReport, colour: Bool = false) -> String {
    let style = Styler(colour: colour)
    var out = ""
    for note in report.notes { out += "Note: \(note)\n" }
    if !report.notes.isEmpty { out += "\n" }
    if let changes = report.changes {
      out += changesText(changes, base: report.base, commit: report.plan.commit, style: style)
    }
    let plan = report.plan
    guard !plan.actions.isEmpty else {
      out += style.bold("No changes.") + " What runs matches \(commitLabel(plan.commit)).\n"
      return out
    }
    out += "Symbols: " + plan.legend.map { "\(style.symbol($0.0)) \($0.1)" }.joined(separator: "   ") + "\n\n"
    out += "The agent would take these actions for \(commitLabel(plan.commit)):\n\n"
    for action in plan.actions {
      out +=
        "  \(style.symbol(action.symbol)) \(style.bold("\(action.resource.kind.rawValue) \(action.resource.name)")): "
      out += action.headline + "\n"
      out += "      \(action.reason)\n"
      for line in action.detail { out += "      \(line)\n" }
      if !action.dependsOn.isEmpty { out += "      after: \(action.dependsOn.joined(separator: ", "))\n" }
      out += "\n"
    }
    out += style.bold(plan.hasChanges ? plan.summaryLine : "No changes. \(plan.summaryLine)") + "\n"
    return out
  }

  static func changesText(_ changes: [ResourceChange], base: String?, commit: String?, style: Styler) -> String {
    var out = "Changes in git \(base.map { "from \(short($0)) " } ?? "")to \(commitLabel(commit)):\n\n"
    if changes.isEmpty { out += "  (no manifest changed)\n" }
    for change in changes {
      let symbol = change.change == .added ? "+" : change.change == .removed ? "-" : "~"
      out += "  \(style.symbol(symbol)) \(change.kind.rawValue) \(change.name)"
      out += change.change == .changed ? "\n" : " (\(change.change.rawValue))\n"
      for field in change.fields {
        out += "      \(field.path): \(field.from ?? "(unset)") → \(field.to ?? "(unset)")\n"
      }
    }
    return out + "\n"
  }

  static func commitLabel(_ commit: String?) -> String { commit.map { "commit \(short($0))" } ?? "the working tree" }

  static func short(_ commit: String) -> String { String(commit.prefix(12)) }

  /// Stable JSON: `{"commit", "base", "actions": [{"kind", "name", "action", "reason", "from", "to",
  /// "dependsOn", "id", "detail"}], "summary": {...}, "changes": [...], "notes": [...]}`.
  public static func json(_ report: PlanReport) -> String {
    struct Summary: Encodable {
      var changes: Bool
      var counts: [String: Int]
      var line: String
    }
    struct Document: Encodable {
      var formatVersion = 1
      var commit: String?
      var base: String?
      var actions: [Action]
      var summary: Summary
      var changes: [ResourceChange]?
      var notes: [String]
    }
    var counts: [String: Int] = [:]
    for verb in Action.Verb.allCases { counts[verb.rawValue] = report.plan.count(verb) }
    let document = Document(
      commit: report.plan.commit, base: report.base, actions: report.plan.actions,
      summary: Summary(changes: report.plan.hasChanges, counts: counts, line: report.plan.summaryLine),
      changes: report.changes, notes: report.notes)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(document)) ?? Data("{}".utf8)
    return String(decoding: data, as: UTF8.self) + "\n"
  }
}
