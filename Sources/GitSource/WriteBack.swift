import CGit2
import Foundation
import ModelOpsCore

/// After a rollback, makes git able to match what runs: one commit on top of the tracked branch
/// that pins the deployment's `spec.model` to the version now serving, on the branch
/// `modelops/rollback/<deployment>` (replaced on the next rollback), pushed to the source's
/// `origin` when the repository is a mirror. The tracked branch itself is never written.
public enum WriteBack {
  public static func branch(for deployment: String) -> String { "modelops/rollback/\(deployment)" }

  /// Writes the commit and the branch; returns the branch name.
  /// - Parameters:
  ///   - file: repo-relative path of the manifest declaring the deployment.
  ///   - nameLine: the line of the deployment's `metadata.name` in that file.
  public static func pin(
    repository: GitRepository, trackedBranch: String, file: String, nameLine: Int, deployment: String,
    model: String, version: Int, reason: String, push credentials: GitCredentials?
  ) throws -> String {
    let base = try repository.resolve(trackedBranch)
    let bytes = try repository.tree(at: base).read(file, limit: 4 << 20)
    let text = try pinnedModel(
      in: String(decoding: bytes, as: UTF8.self), nameLine: nameLine, pin: "\(model)@v\(version)", file: file)
    let branch = branch(for: deployment)
    let message = """
      Pin \(deployment) to \(model) v\(version) after a rollback

      The agent rolled \(deployment) back: \(reason)
      Merging this makes git match what serves; the version rolled back from is not rolled
      out again until the desired revision changes or `agent retry \(deployment)`.
      """
    try repository.commitFile(
      file, contents: Array(text.utf8), parent: base, message: message, branch: "refs/heads/\(branch)")
    if let credentials {
      try repository.push("+refs/heads/\(branch):refs/heads/\(branch)", credentials: credentials)
    }
    return branch
  }

  /// The manifest text with the `model:` value of the document holding `nameLine` replaced by
  /// `pin`, comments and layout kept. Throws when the document has no block-style `model:` line.
  public static func pinnedModel(in text: String, nameLine: Int, pin: String, file: String) throws -> String {
    var lines = text.components(separatedBy: "\n")
    guard nameLine >= 1, nameLine <= lines.count else {
      throw WriteBackError("\(file) has no line \(nameLine)")
    }
    func isSeparator(_ line: String) -> Bool { line.hasPrefix("---") || line.hasPrefix("...") }
    var start = nameLine - 1
    while start > 0, !isSeparator(lines[start - 1]) { start -= 1 }
    var end = nameLine - 1
    while end + 1 < lines.count, !isSeparator(lines[end + 1]) { end += 1 }
    for index in start...end {
      let line = lines[index]
      let indent = line.prefix { $0 == " " }
      guard !indent.isEmpty, line.dropFirst(indent.count).hasPrefix("model:") else { continue }
      let rest = line.dropFirst(indent.count + "model:".count)
      // A trailing comment stays, with the spaces before it.
      var comment = ""
      if let hash = rest.range(of: " #") {
        var lower = hash.lowerBound
        while lower > rest.startIndex, rest[rest.index(before: lower)] == " " { lower = rest.index(before: lower) }
        comment = String(rest[lower...])
      }
      lines[index] = "\(indent)model: \(pin)\(comment)"
      return lines.joined(separator: "\n")
    }
    throw WriteBackError(
      "\(file): no `model:` line in the deployment's document (flow-style specs are not rewritten)")
  }
}

public struct WriteBackError: Error, CustomStringConvertible, Sendable {
  public var description: String
  public init(_ description: String) { self.description = description }
}

extension GitRepository {
  /// A commit of `parent`'s tree with one file replaced, as `branch` (created or moved).
  func commitFile(_ file: String, contents: [UInt8], parent: CommitInfo, message: String, branch: String)
    throws(GitError)
  {
    try locked { () throws(GitError) in
      var blob = git_oid()
      try check(
        "writing \(file)",
        contents.withUnsafeBytes { git_blob_create_from_buffer(&blob, pointer, $0.baseAddress, $0.count) })
      var parentID = parent.id.oid
      var parentCommit: OpaquePointer?
      try check("reading \(parent.id)", git_commit_lookup(&parentCommit, pointer, &parentID))
      defer { git_commit_free(parentCommit) }
      var baseTree: OpaquePointer?
      try check("reading the tree of \(parent.id)", git_commit_tree(&baseTree, parentCommit))
      defer { git_tree_free(baseTree) }
      var treeID = git_oid()
      let status = file.withCString { path -> Int32 in
        var update = git_tree_update(action: GIT_TREE_UPDATE_UPSERT, id: blob, filemode: GIT_FILEMODE_BLOB, path: path)
        return git_tree_create_updated(&treeID, pointer, baseTree, 1, &update)
      }
      try check("updating the tree", status)
      var tree: OpaquePointer?
      try check("reading the new tree", git_tree_lookup(&tree, pointer, &treeID))
      defer { git_tree_free(tree) }
      var signature: UnsafeMutablePointer<git_signature>?
      try check("signing", git_signature_now(&signature, "ModelOps Agent", "modelops-agent@localhost"))
      defer { git_signature_free(signature) }
      var commitID = git_oid()
      var parents: [OpaquePointer?] = [parentCommit]
      try check(
        "committing",
        git_commit_create(&commitID, pointer, nil, signature, signature, "UTF-8", message, tree, 1, &parents))
      var reference: OpaquePointer?
      try check(
        "creating \(branch)", git_reference_create(&reference, pointer, branch, &commitID, 1, "modelops write-back"))
      git_reference_free(reference)
    }
  }
}
