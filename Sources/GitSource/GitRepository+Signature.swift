import CGit2
import Foundation

/// A signed commit's signature (`gpgsig` header: an SSH or OpenPGP armoured block) and the exact
/// bytes it signs (the commit object without that header), as git writes and checks them.
public struct CommitSignature: Sendable, Hashable {
  public var signature: String
  public var signedData: Data

  public enum Kind: Sendable { case ssh, openPGP, unknown }

  public var kind: Kind {
    if signature.hasPrefix("-----BEGIN SSH SIGNATURE-----") { return .ssh }
    if signature.hasPrefix("-----BEGIN PGP SIGNATURE-----") { return .openPGP }
    return .unknown
  }
}

extension GitRepository {
  /// The signature of `commit`, or nil when it is not signed.
  public func signature(of commit: ObjectID) throws(GitError) -> CommitSignature? {
    try locked { () throws(GitError) -> CommitSignature? in
      var signature = git_buf()
      var signed = git_buf()
      defer {
        git_buf_dispose(&signature)
        git_buf_dispose(&signed)
      }
      var oid = commit.oid
      let result = git_commit_extract_signature(&signature, &signed, pointer, &oid, nil)
      if result == GIT_ENOTFOUND.rawValue { return nil }
      try check("reading the signature of commit \(commit.hex.prefix(12))", result)
      guard let text = signature.ptr, let data = signed.ptr else { return nil }
      return CommitSignature(
        signature: String(cString: text), signedData: Data(bytes: data, count: signed.size))
    }
  }
}
