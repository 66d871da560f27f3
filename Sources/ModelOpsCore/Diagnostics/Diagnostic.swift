/// One problem found in the manifests, located compiler-style.
///
/// Rendered as `path:line:column: error: message`.
public struct Diagnostic: Sendable, Hashable, Error, CustomStringConvertible {
  public enum Severity: String, Sendable, Hashable, Codable {
    case error
    case warning
  }

  public var location: SourceLocation
  public var severity: Severity
  public var message: String

  public init(_ severity: Severity = .error, at location: SourceLocation, _ message: String) {
    self.severity = severity
    self.location = location
    self.message = message
  }

  public var description: String { "\(location): \(severity.rawValue): \(message)" }
}

extension Array where Element == Diagnostic {
  /// Diagnostics in the order a person reads them: by path, line and column, errors first.
  public func sortedForDisplay() -> [Diagnostic] {
    sorted { a, b in
      if a.location != b.location { return a.location < b.location }
      if a.severity != b.severity { return a.severity == .error }
      return a.message < b.message
    }
  }

  /// Whether any element is an error (warnings do not make manifests invalid).
  public var hasErrors: Bool { contains { $0.severity == .error } }
}
