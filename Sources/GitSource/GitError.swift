import CGit2

/// A libgit2 failure: the operation, libgit2's code and its message (credentials never included).
public struct GitError: Error, Sendable, CustomStringConvertible {
  public var operation: String
  public var code: Int32
  public var message: String

  public init(operation: String, code: Int32, message: String) {
    self.operation = operation
    self.code = code
    self.message = message
  }

  /// Reads libgit2's last error for a failed call.
  static func last(_ operation: String, code: Int32) -> GitError {
    // After refused credentials libgit2's last error may be another, older one (a config lookup's).
    if code == GIT_EAUTH.rawValue {
      return GitError(
        operation: operation, code: code,
        message: "the remote refused the credentials: check source.auth (the token, or the SSH key and its passphrase)")
    }
    let message = git_error_last().flatMap { $0.pointee.message.map { String(cString: $0) } } ?? "unknown error"
    return GitError(operation: operation, code: code, message: redactURLs(in: message))
  }

  public var description: String { "git error \(code) while \(operation): \(message)" }

  /// Whether the failure means "no such object or reference".
  public var isNotFound: Bool { code == GIT_ENOTFOUND.rawValue }
}

/// Runs a libgit2 call, turning a negative result into a `GitError`.
@discardableResult
func check(_ operation: @autoclosure () -> String, _ result: Int32) throws(GitError) -> Int32 {
  guard result >= 0 else { throw GitError.last(operation(), code: result) }
  return result
}

/// Initialises libgit2 once per process (thread-safe: a global is initialised lazily and once).
let libgit2Ready: Bool = { git_libgit2_init() > 0 }()

/// Removes `user:password@` from every URL in a text, so tokens never reach logs or errors.
public func redactURLs(in text: String) -> String {
  var result = ""
  var rest = Substring(text)
  while let scheme = rest.range(of: "://") {
    result += rest[..<scheme.upperBound]
    rest = rest[scheme.upperBound...]
    let hostEnd = rest.firstIndex { $0 == "/" || $0 == " " || $0 == "'" || $0 == "\"" } ?? rest.endIndex
    if let at = rest[..<hostEnd].lastIndex(of: "@") {
      result += "***@"
      rest = rest[rest.index(after: at)...]
    }
  }
  return result + rest
}
