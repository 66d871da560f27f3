/// `agent status` as a table, `kubectl get` style: KIND NAME SYNC HEALTH VERSION MESSAGE, each
/// column as wide as its longest value; the message is cut (with `…`) so that a line fits `width`
/// columns, whole with `width` nil (`--wide`). Sync and health are coloured when asked (a
/// terminal): green when all is well, yellow while work goes on, red when something is wrong.
public enum StatusTable {
  public static let defaultWidth = 120

  public static func render(_ statuses: [ResourceStatus], width: Int? = defaultWidth, colour: Bool = false) -> String {
    let header = ["KIND", "NAME", "SYNC", "HEALTH", "VERSION", "MESSAGE"]
    let rows = statuses.map { status in
      [
        status.kind.rawValue, status.name, status.sync.rawValue, status.health.rawValue, status.version ?? "-",
        status.message,
      ]
    }
    var widths = header.map(\.count)
    for row in rows {
      for (index, cell) in row.enumerated().dropLast() { widths[index] = max(widths[index], cell.count) }
    }
    let lead = widths.dropLast().reduce(0) { $0 + $1 + 2 }
    func line(_ cells: [String], tones: [Tone?]) -> String {
      var out = ""
      for (index, cell) in cells.enumerated().dropLast() {
        let padded = cell + String(repeating: " ", count: widths[index] - cell.count + 2)
        out += colour ? (tones[index].map { $0.paint(padded) } ?? padded) : padded
      }
      var message = cells[cells.count - 1]
      if let width, lead + message.count > width {
        message = String(message.prefix(max(8, width - lead - 1))) + "…"
      }
      return out + message
    }
    var out = line(header, tones: Array(repeating: nil, count: header.count)) + "\n"
    for (status, row) in zip(statuses, rows) {
      out += line(row, tones: [nil, nil, Tone(status.sync), Tone(status.health), nil, nil]) + "\n"
    }
    return out
  }

  enum Tone {
    case good, busy, bad, dim

    init(_ sync: ResourceStatus.Sync) {
      self = sync == .synced ? .good : .busy
    }

    init(_ health: ResourceStatus.Health) {
      switch health {
      case .healthy: self = .good
      case .progressing: self = .busy
      case .degraded: self = .bad
      case .unknown: self = .dim
      }
    }

    func paint(_ text: String) -> String {
      let code =
        switch self {
        case .good: "32"
        case .busy: "33"
        case .bad: "1;31"
        case .dim: "2"
        }
      // The padding stays outside the colour, so that columns line up the same either way.
      let trimmed = text.reversed().drop { $0 == " " }.reversed()
      let spaces = text.count - trimmed.count
      return "\u{1B}[\(code)m\(String(trimmed))\u{1B}[0m" + String(repeating: " ", count: spaces)
    }
  }
}
