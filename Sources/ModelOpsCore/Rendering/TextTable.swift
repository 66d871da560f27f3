/// A table of text, `kubectl get` style: a header row, columns as wide as their longest value and
/// two spaces apart; the last column is cut (with `…`) so that a line fits `width` columns, whole
/// with `width` nil. A cell may be painted (ANSI colour) without moving the columns.
public enum TextTable {
  public static func render(
    header: [String], rows: [[String]], width: Int?,
    paint: (_ row: Int, _ column: Int, _ text: String) -> String = {
      $2
    }
  ) -> String {
    var widths = header.map(\.count)
    for row in rows {
      for (index, cell) in row.enumerated().dropLast() where index < widths.count {
        widths[index] = max(widths[index], cell.count)
      }
    }
    let lead = widths.dropLast().reduce(0) { $0 + $1 + 2 }
    func line(_ cells: [String], row: Int?) -> String {
      var out = ""
      for (index, cell) in cells.enumerated().dropLast() {
        let padding = String(repeating: " ", count: widths[index] - cell.count + 2)
        out += (row.map { paint($0, index, cell) } ?? cell) + padding
      }
      var last = cells.last ?? ""
      if let width, !last.isEmpty, lead + last.count > width {
        last = String(last.prefix(max(8, width - lead - 1))) + "…"
      }
      var text = out + last
      while text.hasSuffix(" ") { text.removeLast() }
      return text
    }
    var out = line(header, row: nil) + "\n"
    for (index, row) in rows.enumerated() { out += line(row, row: index) + "\n" }
    return out
  }
}
