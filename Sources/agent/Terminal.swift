import Foundation
import ModelOpsCore

/// A stream that styles text only on a terminal, and never when `NO_COLOR` is set.
struct Terminal {
  let handle: FileHandle
  let colour: Bool

  static var standardError: Terminal { Terminal(handle: .standardError, fd: 2) }
  static var standardOutput: Terminal { Terminal(handle: .standardOutput, fd: 1) }

  init(handle: FileHandle, fd: Int32) {
    self.handle = handle
    let noColour = ProcessInfo.processInfo.environment["NO_COLOR"].map { !$0.isEmpty } ?? false
    self.colour = isatty(fd) == 1 && !noColour
  }

  func write(_ text: String) { handle.write(Data(text.utf8)) }

  /// The width a table may take: the terminal's columns (at least 80), or 120 when not a terminal.
  static func columns(fd: Int32) -> Int {
    var size = winsize()
    guard isatty(fd) == 1, ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else {
      return StatusTable.defaultWidth
    }
    return max(80, Int(size.ws_col))
  }

  private func style(_ code: String, _ text: String) -> String { colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
  func red(_ text: String) -> String { style("1;31", text) }
  func yellow(_ text: String) -> String { style("1;33", text) }
  func green(_ text: String) -> String { style("1;32", text) }
  func bold(_ text: String) -> String { style("1", text) }
}
