extension PlanRenderer {
  /// The marker a CI job looks for to update its one comment instead of adding another.
  public static let markdownMarker = "<!-- modelops-plan -->"
  /// GitHub's limit on a comment's length.
  public static let markdownLimit = 65_536

  /// For pull-request comments: the marker line, the summary, a table of actions, and the long
  /// text in a collapsed `<details>` block; cut to `limit` characters, saying what was left out.
  public static func markdown(_ report: PlanReport, limit: Int = markdownLimit) -> String {
    let plan = report.plan
    var head = "\(markdownMarker)\n### ModelOps plan for `\(plan.commit.map(short) ?? "working tree")`"
    if let base = report.base { head += " (base `\(short(base))`)" }
    head += "\n\n"
    for note in report.notes { head += "> \(note)\n" }
    if !report.notes.isEmpty { head += "\n" }
    head += plan.actions.isEmpty ? "**No changes.**\n" : "**\(plan.summaryLine)**\n"

    var rows: [String] = []
    if let changes = report.changes, !changes.isEmpty {
      // What the pull request changes, field by field, where a reviewer sees it.
      rows.append("\n**Changed in git:**\n")
      for change in changes {
        let fields = change.fields.prefix(8).map { field in
          "`\(field.path)`: "
            + [field.from, field.to].map { $0.map { "`\(escape($0))`" } ?? "∅" }.joined(separator: " → ")
        }
        let more = change.fields.count > 8 ? ", and \(change.fields.count - 8) more" : ""
        let what = change.change == .changed ? fields.joined(separator: ", ") + more : change.change.rawValue
        rows.append("- \(change.kind.rawValue) `\(change.name)`: \(what)")
      }
    }
    if !plan.actions.isEmpty {
      rows.append("\n| | resource | action | reason |\n|---|---|---|---|")
      for action in plan.actions {
        rows.append(
          "| `\(action.symbol)` | \(action.resource.kind.rawValue) `\(action.resource.name)` | "
            + "\(escape(readable(action))) | \(escape(action.reason)) |")
      }
    }
    let detailsText = text(report, colour: false)
    let openDetails = "\n<details><summary>Full plan</summary>\n\n```\n"
    let closeDetails = "```\n</details>\n"

    // Fit: the head always; then table rows; then as much of the details text as room allows.
    let omissionRoom = 200
    var budget = limit - head.count - omissionRoom
    var out = head
    var leftOutRows = 0
    for row in rows {
      if row.count + 1 <= budget {
        out += row + "\n"
        budget -= row.count + 1
      } else {
        leftOutRows += 1
      }
    }
    var leftOutLines = 0
    if budget > openDetails.count + closeDetails.count {
      budget -= openDetails.count + closeDetails.count
      var body = ""
      let lines = detailsText.split(separator: "\n", omittingEmptySubsequences: false)
      for (index, line) in lines.enumerated() {
        let piece = line.replacingOccurrences(of: "```", with: "'''") + "\n"
        guard piece.count <= budget else {
          leftOutLines = lines.count - index
          break
        }
        body += piece
        budget -= piece.count
      }
      out += openDetails + body + closeDetails
    } else {
      leftOutLines = 1
    }
    if leftOutRows > 0 || leftOutLines > 0 {
      out += "\n_Left out to stay under GitHub's \(limit)-character limit: \(leftOutRows) table row(s) and "
      out += "\(leftOutLines) line(s) of detail. Run `agent plan --format json` for everything._\n"
    }
    return out
  }

  /// The headline without revision digests, which mean nothing to a reviewer: `rollout v3 → v4`,
  /// with `(new replica template)` when the template changes too.
  static func readable(_ action: Action) -> String {
    guard action.verb == .rollout || action.verb == .rollback || action.verb == .hold, let to = action.to else {
      return action.headline
    }
    func split(_ revision: String) -> (version: Substring, template: Substring?) {
      let parts = revision.split(separator: "/", maxSplits: 1)
      return (parts.first ?? "", parts.count > 1 ? parts[1] : nil)
    }
    let target = split(to)
    let verb = action.verb == .rollout && action.from == nil ? "create" : action.verb.rawValue
    guard let from = action.from else { return "\(verb) \(target.version)" }
    let source = split(from)
    let template =
      source.template != nil && target.template != nil && source.template != target.template
      ? " (new replica template)" : ""
    return "\(verb) \(source.version) → \(target.version)\(template)"
  }

  private static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
  }
}
