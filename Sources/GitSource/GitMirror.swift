import CGit2
import Foundation
import ModelOpsCore

/// How to authenticate to a remote. Never printed: `description` hides the secret.
public enum GitCredentials: Sendable, CustomStringConvertible {
  case none
  /// HTTPS with a token as the password (GitHub, Gitea, GitLab all accept this).
  case token(String)
  /// SSH with a private key file.
  case sshKey(privateKey: String, passphrase: String?)

  public var description: String {
    switch self {
    case .none: return "none"
    case .token: return "token (hidden)"
    case .sshKey(let key, _): return "ssh key \(key)"
    }
  }
}

/// The payload libgit2 hands back to the credentials callback; it may call more than once.
private final class CredentialBox {
  let credentials: GitCredentials
  var attempts = 0
  init(_ credentials: GitCredentials) { self.credentials = credentials }
}

/// Answers libgit2's request for credentials from the box in `payload`.
private let acquireCredentials: git_credential_acquire_cb = { out, _, usernameFromURL, allowed, payload in
  guard let out, let payload else { return GIT_PASSTHROUGH.rawValue }
  let box = Unmanaged<CredentialBox>.fromOpaque(payload).takeUnretainedValue()
  box.attempts += 1
  // libgit2 asks again after a refusal: stop rather than loop on bad credentials.
  guard box.attempts <= 2 else { return GIT_EAUTH.rawValue }
  let user = usernameFromURL.map { String(cString: $0) }
  switch box.credentials {
  case .none:
    return GIT_PASSTHROUGH.rawValue
  case .token(let token):
    guard allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0 else { return GIT_PASSTHROUGH.rawValue }
    return git_credential_userpass_plaintext_new(out, user ?? "x-access-token", token)
  case .sshKey(let key, let passphrase):
    guard allowed & GIT_CREDENTIAL_SSH_KEY.rawValue != 0 else { return GIT_PASSTHROUGH.rawValue }
    return git_credential_ssh_key_new(out, user ?? "git", nil, key, passphrase)
  }
}

/// A bare mirror of a remote repository, kept in the agent's state folder and fetched on demand.
public enum GitMirror {
  /// Clones `url` into `path` if absent, else fetches every branch and tag; returns the mirror.
  public static func sync(url: String, into path: String, credentials: GitCredentials) throws(GitError)
    -> GitRepository
  {
    _ = libgit2Ready
    if FileManager.default.fileExists(atPath: path + "/HEAD") {
      let repository = try GitRepository.open(path, mirror: true)
      try fetch(repository, url: url, credentials: credentials)
      return repository
    }
    try? FileManager.default.createDirectory(
      atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try withFetchOptions(credentials) { (options: inout git_fetch_options) throws(GitError) in
      var clone = modelops_git_clone_options()
      clone.bare = 1
      clone.fetch_opts = options
      var repo: OpaquePointer?
      try check("cloning \(redactURLs(in: url))", git_clone(&repo, url, path, &clone))
      git_repository_free(repo)
    }
    return try GitRepository.open(path, mirror: true)
  }

  /// Fetches every branch and tag of `origin` into an open mirror.
  public static func fetch(_ repository: GitRepository, url: String, credentials: GitCredentials) throws(GitError) {
    try withFetchOptions(credentials) { (options: inout git_fetch_options) throws(GitError) in
      try repository.locked { () throws(GitError) in
        var remote: OpaquePointer?
        try check("finding the remote of \(repository.path)", git_remote_lookup(&remote, repository.pointer, "origin"))
        defer { git_remote_free(remote) }
        try check("fetching \(redactURLs(in: url))", git_remote_fetch(remote, nil, &options, nil))
      }
    }
  }

  /// Fetch options whose credentials callback reads a box kept alive for the whole call: libgit2
  /// may call back several times.
  private static func withFetchOptions(
    _ credentials: GitCredentials, _ body: (inout git_fetch_options) throws(GitError) -> Void
  ) throws(GitError) {
    let box = CredentialBox(credentials)
    var options = modelops_git_fetch_options()
    options.callbacks.credentials = acquireCredentials
    options.callbacks.payload = Unmanaged.passUnretained(box).toOpaque()
    options.prune = GIT_FETCH_PRUNE
    options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL
    try withExtendedLifetime(box) { () throws(GitError) in try body(&options) }
  }

  /// The mirror folder for a URL under a state folder: stable, and free of the URL's secrets.
  public static func folder(for url: String, under state: String) -> String {
    "\(state)/git/\(SHA256.hex(redactURLs(in: url)).prefix(16)).git"
  }
}

extension GitRepository {
  /// Pushes one refspec to `origin` (a mirror's source), with the source's credentials.
  func push(_ refspec: String, credentials: GitCredentials) throws(GitError) {
    let box = CredentialBox(credentials)
    var options = modelops_git_push_options()
    options.callbacks.credentials = acquireCredentials
    options.callbacks.payload = Unmanaged.passUnretained(box).toOpaque()
    try withExtendedLifetime(box) { () throws(GitError) in
      try locked { () throws(GitError) in
        var remote: OpaquePointer?
        try check("finding the remote of \(path)", git_remote_lookup(&remote, pointer, "origin"))
        defer { git_remote_free(remote) }
        let status = refspec.withCString { spec -> Int32 in
          var strings: [UnsafeMutablePointer<CChar>?] = [UnsafeMutablePointer(mutating: spec)]
          return strings.withUnsafeMutableBufferPointer { buffer in
            var array = git_strarray(strings: buffer.baseAddress, count: 1)
            return git_remote_push(remote, &array, &options)
          }
        }
        try check("pushing \(refspec)", status)
      }
    }
  }
}
