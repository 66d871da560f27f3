import CGit2
import ModelOpsCore

/// A commit's tree as a `ManifestTree`: folders, files and symlinks straight from the object
/// database, so a read is consistent and a dirty work tree never leaks in.
public struct GitTree: ManifestTree {
  public let repository: GitRepository
  /// The commit's root tree.
  public let root: ObjectID

  /// The id of the tree or blob at `path` (`""`: the root); nil when nothing is there.
  /// Equal ids mean equal content: an unchanged manifests folder need not be parsed again.
  public func objectID(at path: String) throws(TreeError) -> ObjectID? {
    if path.isEmpty || path == "." { return root }
    return try withEntry(path) { entry in ObjectID(git_tree_entry_id(entry)) }
  }

  public func entries(in folder: String) throws(TreeError) -> [TreeEntry] {
    try locked { () throws(TreeError) -> [TreeEntry] in
      let tree = try lookupTree(folder)
      defer { git_tree_free(tree) }
      var result: [TreeEntry] = []
      for index in 0..<git_tree_entrycount(tree) {
        guard let entry = git_tree_entry_byindex(tree, index) else { continue }
        let name = String(cString: git_tree_entry_name(entry))
        let kind = try kind(of: entry, path: joined(folder, name))
        // A symlink's blob holds its target, not the content it leads to: no id for it.
        let id: String? =
          switch kind {
          case .file, .folder: ObjectID(git_tree_entry_id(entry)).hex
          case .symlink, .other: nil
          }
        result.append(TreeEntry(name: name, kind: kind, contentID: id))
      }
      return result
    }
  }

  public func entry(at path: String) throws(TreeError) -> TreeEntry.Kind? {
    if path.isEmpty || path == "." { return .folder }
    return try locked { () throws(TreeError) -> TreeEntry.Kind? in
      try withEntryUnlocked(path) { entry throws(TreeError) in try kind(of: entry, path: path) }
    }
  }

  public func read(_ file: String, limit: Int) throws(TreeError) -> [UInt8] {
    try locked { () throws(TreeError) -> [UInt8] in
      guard
        let bytes = try withEntryUnlocked(
          file, { entry throws(TreeError) in try blob(entry, path: file, limit: limit) })
      else { throw TreeError(path: file, reason: .notFound) }
      return bytes
    }
  }

  // MARK: - libgit2 calls (under the repository's lock)

  private func locked<T>(_ body: () throws(TreeError) -> T) throws(TreeError) -> T {
    repository.lock.lock()
    defer { repository.lock.unlock() }
    return try body()
  }

  private func withEntry<T>(_ path: String, _ body: (OpaquePointer) throws(TreeError) -> T) throws(TreeError) -> T? {
    try locked { () throws(TreeError) -> T? in try withEntryUnlocked(path, body) }
  }

  private func withEntryUnlocked<T>(_ path: String, _ body: (OpaquePointer) throws(TreeError) -> T) throws(TreeError)
    -> T?
  {
    let tree = try lookupTree("")
    defer { git_tree_free(tree) }
    var entry: OpaquePointer?
    let result = git_tree_entry_bypath(&entry, tree, path)
    if result == GIT_ENOTFOUND.rawValue { return nil }
    guard result >= 0, let entry else { throw Self.error(path, "reading \(path)", result) }
    defer { git_tree_entry_free(entry) }
    return try body(entry)
  }

  private func lookupTree(_ folder: String) throws(TreeError) -> OpaquePointer {
    var oid = root.oid
    var tree: OpaquePointer?
    var result = git_tree_lookup(&tree, repository.pointer, &oid)
    guard result >= 0, let rootTree = tree else { throw Self.error(folder, "reading the root tree", result) }
    if folder.isEmpty || folder == "." { return rootTree }
    defer { git_tree_free(rootTree) }
    var entry: OpaquePointer?
    result = git_tree_entry_bypath(&entry, rootTree, folder)
    if result == GIT_ENOTFOUND.rawValue { throw TreeError(path: folder, reason: .notFound) }
    guard result >= 0, let entry else { throw Self.error(folder, "reading \(folder)", result) }
    defer { git_tree_entry_free(entry) }
    guard git_tree_entry_type(entry) == GIT_OBJECT_TREE else { throw TreeError(path: folder, reason: .notFound) }
    var sub: OpaquePointer?
    result = git_tree_lookup(&sub, repository.pointer, git_tree_entry_id(entry))
    guard result >= 0, let sub else { throw Self.error(folder, "reading \(folder)", result) }
    return sub
  }

  private func kind(of entry: OpaquePointer, path: String) throws(TreeError) -> TreeEntry.Kind {
    switch git_tree_entry_filemode(entry) {
    case GIT_FILEMODE_TREE: return .folder
    case GIT_FILEMODE_BLOB, GIT_FILEMODE_BLOB_EXECUTABLE: return .file
    case GIT_FILEMODE_LINK:
      let target = try blob(entry, path: path, limit: 4096)
      return .symlink(target: String(decoding: target, as: UTF8.self))
    default:
      return .other
    }
  }

  private func blob(_ entry: OpaquePointer, path: String, limit: Int) throws(TreeError) -> [UInt8] {
    var blob: OpaquePointer?
    let result = git_blob_lookup(&blob, repository.pointer, git_tree_entry_id(entry))
    guard result >= 0, let blob else { throw Self.error(path, "reading \(path)", result) }
    defer { git_blob_free(blob) }
    let size = Int(git_blob_rawsize(blob))
    guard size <= limit else { throw TreeError(path: path, reason: .tooLarge(limit: limit)) }
    guard size > 0, let content = git_blob_rawcontent(blob) else { return [] }
    return Array(UnsafeRawBufferPointer(start: content, count: size))
  }

  private func joined(_ folder: String, _ name: String) -> String { folder.isEmpty ? name : "\(folder)/\(name)" }

  private static func error(_ path: String, _ operation: String, _ code: Int32) -> TreeError {
    TreeError(path: path, reason: .io(GitError.last(operation, code: code).description))
  }
}
