import CGit2
import Foundation

/// An object id (SHA-1 of a commit, tree or blob) as 40 hex characters.
public struct ObjectID: Sendable, Hashable, CustomStringConvertible {
  public var hex: String
  public var description: String { hex }

  /// An id from its 40 hex characters.
  public init(hex: String) { self.hex = hex }

  init(_ oid: UnsafePointer<git_oid>) {
    var buffer = [CChar](repeating: 0, count: Int(GIT_OID_HEXSZ) + 1)
    git_oid_tostr(&buffer, buffer.count, oid)
    hex = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  var oid: git_oid {
    var oid = git_oid()
    git_oid_fromstr(&oid, hex)
    return oid
  }
}

/// A commit's identity and what a person wants to know about it.
public struct CommitInfo: Sendable, Hashable {
  public var id: ObjectID
  public var tree: ObjectID
  public var summary: String
  public var author: String
  public var time: Date
}

/// An open repository (a checkout or a bare mirror), owning its libgit2 handle.
///
/// libgit2 handles are not safe to use from several threads at once, so every call goes through
/// one lock; callers may share the object freely.
public final class GitRepository: @unchecked Sendable {
  let pointer: OpaquePointer
  let lock = NSLock()
  /// The folder holding the repository (its work tree, or the bare repository itself).
  public let path: String
  /// A mirror resolves `main` as the fetched `origin/main` first: its own branches are stale.
  public let preferRemoteBranches: Bool

  private init(_ pointer: OpaquePointer, path: String, preferRemoteBranches: Bool = false) {
    self.pointer = pointer
    self.path = path
    self.preferRemoteBranches = preferRemoteBranches
  }

  deinit { git_repository_free(pointer) }

  /// Opens the repository at `path`, or the one containing it; `mirror` for a bare mirror that
  /// fetches branches as `origin/*`.
  public static func open(_ path: String, mirror: Bool = false) throws(GitError) -> GitRepository {
    _ = libgit2Ready
    var repo: OpaquePointer?
    try check("opening the repository at \(path)", git_repository_open_ext(&repo, path, 0, nil))
    guard let repo else { throw GitError(operation: "opening \(path)", code: -1, message: "no repository") }
    let root = git_repository_workdir(repo).map { String(cString: $0) } ?? String(cString: git_repository_path(repo))
    let trimmed = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
    return GitRepository(repo, path: trimmed, preferRemoteBranches: mirror)
  }

  /// Creates an empty repository (bare: no work tree).
  public static func create(at path: String, bare: Bool) throws(GitError) -> GitRepository {
    _ = libgit2Ready
    var repo: OpaquePointer?
    try check("creating a repository at \(path)", git_repository_init(&repo, path, bare ? 1 : 0))
    guard let repo else { throw GitError(operation: "creating \(path)", code: -1, message: "no repository") }
    return GitRepository(repo, path: path)
  }

  func locked<T>(_ body: () throws(GitError) -> T) throws(GitError) -> T {
    lock.lock()
    defer { lock.unlock() }
    return try body()
  }

  /// The commit a branch, tag, remote branch or (abbreviated) SHA names.
  public func resolve(_ ref: String) throws(GitError) -> CommitInfo {
    try locked { () throws(GitError) -> CommitInfo in
      var object: OpaquePointer?
      let specs = preferRemoteBranches ? ["refs/remotes/origin/\(ref)", ref] : [ref, "refs/remotes/origin/\(ref)"]
      var result = GIT_ENOTFOUND.rawValue
      for spec in specs where result == GIT_ENOTFOUND.rawValue {
        result = git_revparse_single(&object, pointer, spec)
      }
      guard result >= 0, let object else {
        throw GitError(
          operation: "resolving '\(ref)'", code: result,
          message: "no branch, tag or commit named '\(ref)' in \(path)")
      }
      defer { git_object_free(object) }
      var peeled: OpaquePointer?
      try check("reading commit '\(ref)'", git_object_peel(&peeled, object, GIT_OBJECT_COMMIT))
      guard let peeled else { throw GitError(operation: "peeling \(ref)", code: -1, message: "not a commit") }
      defer { git_object_free(peeled) }
      return commitInfo(peeled)
    }
  }

  private func commitInfo(_ commit: OpaquePointer) -> CommitInfo {
    let author = git_commit_author(commit).map { sig in
      "\(sig.pointee.name.map { String(cString: $0) } ?? "") <\(sig.pointee.email.map { String(cString: $0) } ?? "")>"
    }
    return CommitInfo(
      id: ObjectID(git_commit_id(commit)), tree: ObjectID(git_commit_tree_id(commit)),
      summary: git_commit_summary(commit).map { String(cString: $0) } ?? "", author: author ?? "",
      time: Date(timeIntervalSince1970: TimeInterval(git_commit_time(commit))))
  }

  /// The commit's tree, seen as a manifest tree (read from the object database, never the work tree).
  public func tree(at commit: CommitInfo) -> GitTree { GitTree(repository: self, root: commit.tree) }

  /// Writes the files of a commit into `folder` (which need not be empty), as a checkout would.
  public func materialize(_ commit: CommitInfo, into folder: String) throws(GitError) {
    try locked { () throws(GitError) in
      var object: OpaquePointer?
      var oid = commit.id.oid
      try check("looking up commit \(commit.id)", git_object_lookup(&object, pointer, &oid, GIT_OBJECT_COMMIT))
      defer { git_object_free(object) }
      var options = modelops_git_checkout_options()
      options.checkout_strategy = GIT_CHECKOUT_FORCE.rawValue | GIT_CHECKOUT_DONT_UPDATE_INDEX.rawValue
      let status = folder.withCString { target in
        options.target_directory = target
        return git_checkout_tree(pointer, object, &options)
      }
      try check("checking out \(commit.id) into \(folder)", status)
    }
  }
}
