/// `agent status` as a table: KIND NAME SYNC HEALTH VERSION MESSAGE, the message cut so that a
/// line fits `width` columns (whole with `width` nil: `--wide`). Sync and health are coloured when
/// asked (a terminal): green when all is well, yellow while work goes on, red when something is
/// wrong.
public enum StatusTable {
  public static let defaultWidth = 120

  public static func render(_ statuses: [ResourceStatus], width: Int? = defaultWidth, colour: Bool = false) -> String {
    let rows = statuses.map { status in
      [
        status.kind.rawValue, status.name, status.sync.rawValue, status.health.rawValue, status.version ?? "-",
        status.message,
      ]
    }
    return TextTable.render(
      header: ["KIND", "NAME", "SYNC", "HEALTH", "VERSION", "MESSAGE"], rows: rows, width: width
    ) { row, column, text in
      guard colour else { return text }
      switch column {
      case 2: return Tone(statuses[row].sync).paint(text)
      case 3: return Tone(statuses[row].health).paint(text)
      default: return text
      }
    }
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
      return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }
  }
}
