import Foundation

/// One line of what the agent is doing, with what it is about as fields: `agent run` logs the
/// message with the fields as swift-log metadata (`resource`, `revision`, `run`, …), `agent apply`
/// prints the message. A plain string literal or interpolation is a line without fields.
public struct Progress: Sendable, ExpressibleByStringInterpolation {
  public enum Level: Sendable {
    case info
    /// Something failed or was rolled back: a person may want to look.
    case warning
  }

  public var message: String
  public var metadata: [String: String]
  public var level: Level

  public init(_ message: String, level: Level = .info, _ metadata: [String: String] = [:]) {
    self.message = message
    self.metadata = metadata
    self.level = level
  }

  public init(stringLiteral value: String) { self.init(value) }

  public init(stringInterpolation: DefaultStringInterpolation) {
    self.init(String(stringInterpolation: stringInterpolation))
  }
}

/// Where progress goes.
public typealias ProgressSink = @Sendable (Progress) -> Void
