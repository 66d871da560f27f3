/// A read-only view of a repository's files: a folder on disk, or (later) a git tree at a commit.
///
/// Paths are repo-relative with `/` separators; `""` is the root. Implementations never follow
/// symlinks themselves: they report them, and the loader decides whether the target is inside.
public protocol ManifestTree: Sendable {
  /// The entries of a folder, in any order.
  func entries(in folder: String) throws(TreeError) -> [TreeEntry]
  /// What is at a path; nil when nothing is.
  func entry(at path: String) throws(TreeError) -> TreeEntry.Kind?
  /// A file's bytes; fails when it holds more than `limit` bytes.
  func read(_ file: String, limit: Int) throws(TreeError) -> [UInt8]
}

public struct TreeEntry: Sendable, Hashable {
  public enum Kind: Sendable, Hashable {
    /// A file (its size is checked when it is read).
    case file
    case folder
    case symlink(target: String)
    /// Sockets, devices, git submodules: never read.
    case other
  }
  public var name: String
  public var kind: Kind
  /// An id that changes whenever a file's bytes (or anything in a folder) do: a git blob or
  /// tree id; nil when the tree cannot tell cheaply. A file listed with an id may have its parse
  /// reused by a later load, and a folder its listing.
  public var contentID: String?

  public init(name: String, kind: Kind, contentID: String? = nil) {
    self.name = name
    self.kind = kind
    self.contentID = contentID
  }
}

/// Why a tree could not be read.
public struct TreeError: Error, Sendable, Equatable, CustomStringConvertible {
  public enum Reason: Sendable, Equatable {
    case notFound
    case tooLarge(limit: Int)
    case io(String)
  }
  public var path: String
  public var reason: Reason

  public init(path: String, reason: Reason) {
    self.path = path
    self.reason = reason
  }

  public var description: String {
    switch reason {
    case .notFound: return "no such file or folder"
    case .tooLarge(let limit): return "file is larger than the \(limit / 1024) KiB limit for a manifest"
    case .io(let message): return message
    }
  }
}

/// Joins repo-relative path components.
func joinPath(_ folder: String, _ name: String) -> String {
  folder.isEmpty || folder == "." ? name : "\(folder)/\(name)"
}
