import Foundation
import GitSource
import ModelOpsCore
import ModelOpsTesting
import Testing

@Suite struct GitSourceTests {
  /// A repository with manifests, a training folder and a DVC pointer, on `main`.
  func fixture() throws -> GitFixture {
    let repo = try GitFixture()
    try repo.write("manifests/fraud.yaml", modelManifest)
    try repo.write("training/train.py", "print('train')\n")
    try repo.write("data/labels.csv.dvc", "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: labels.csv\n")
    try repo.write("README.md", "# not a manifest\n")
    try repo.commit("initial")
    return repo
  }

  @Test func manifestsAreReadFromTheCommitNotTheWorkTree() throws {
    let repo = try fixture()
    try repo.write("manifests/fraud.yaml", "garbage: [\n")  // dirty, uncommitted
    let git = try GitRepository.open(repo.path)
    let commit = try git.resolve("main")
    let result = ManifestLoader.load(from: git.tree(at: commit), path: "manifests")
    #expect(result.isValid, "\(result.diagnostics)")
    #expect(result.files == ["manifests/fraud.yaml"])
    #expect(result.manifests.count == 2)
  }

  @Test func branchesTagsAndShortSHAsResolveToTheirCommit() throws {
    let repo = try fixture()
    let first = try repo.git("rev-parse", "HEAD")
    try repo.git("tag", "v1")
    try repo.git("checkout", "-q", "-b", "feature")
    try repo.write("manifests/fraud.yaml", modelManifest.replacingOccurrences(of: "version: 1", with: "version: 2"))
    let second = try repo.commit("pin v2")
    let git = try GitRepository.open(repo.path)
    #expect(try git.resolve("main").id.hex == first)
    #expect(try git.resolve("v1").id.hex == first)
    #expect(try git.resolve("feature").id.hex == second)
    #expect(try git.resolve(String(second.prefix(8))).id.hex == second)
    #expect(try git.resolve("HEAD").summary == "pin v2")
  }

  @Test func aBadRefIsAClearError() throws {
    let repo = try fixture()
    let git = try GitRepository.open(repo.path)
    #expect {
      try git.resolve("no-such-branch")
    } throws: { error in
      "\(error)".contains("no branch, tag or commit named 'no-such-branch'")
    }
  }

  @Test func anUnchangedManifestsTreeIsNotParsedAgain() throws {
    let repo = try fixture()
    let git = try GitRepository.open(repo.path)
    let reader = ManifestReader(path: "manifests")
    _ = reader.load(git.tree(at: try git.resolve("HEAD")))
    try repo.write("training/train.py", "print('changed')\n")
    try repo.commit("change training code only")
    let second = reader.load(git.tree(at: try git.resolve("HEAD")))
    #expect(reader.parses == 1)
    #expect(second.manifests.count == 2)
    try repo.write("manifests/fraud.yaml", modelManifest.replacingOccurrences(of: "version: 1", with: "version: 2"))
    try repo.commit("pin v2")
    let third = reader.load(git.tree(at: try git.resolve("HEAD")))
    #expect(reader.parses == 2)
    #expect(third.manifests.models["fraud"]?.spec.alias(named: "production")?.target == .pinned(version: 2))
  }

  @Test func theDesiredStateCarriesWorkdirTreesAndDVCDigests() throws {
    let repo = try fixture()
    let git = try GitRepository.open(repo.path)
    let reader = ManifestReader(path: "manifests")
    let commit = try git.resolve("HEAD")
    let tree = git.tree(at: commit)
    let desired = reader.desiredState(reader.load(tree), tree: tree, commit: commit)
    #expect(desired.commit == commit.id.hex)
    #expect(desired.dvcDigests["fraud-train"]?["labels"] == "0123456789abcdef0123456789abcdef")
    #expect(desired.workdirDigests["fraud-train"] == (try repo.git("rev-parse", "HEAD:training")))
  }

  @Test func theDigestsFollowEachCommitWhenRemembered() throws {
    let repo = try fixture()
    let git = try GitRepository.open(repo.path)
    let reader = ManifestReader(path: "manifests")
    func desiredAtHead() throws -> DesiredState {
      let commit = try git.resolve("HEAD")
      let tree = git.tree(at: commit)
      return reader.desiredState(reader.load(tree), tree: tree, commit: commit)
    }
    let first = try desiredAtHead()
    try repo.write("README.md", "# changed, nothing a pipeline reads\n")
    try repo.commit("readme")
    #expect(try desiredAtHead().workdirDigests == first.workdirDigests)
    try repo.write("training/train.py", "print('changed')\n")
    try repo.write("data/labels.csv.dvc", "outs:\n- md5: ffffffffffffffffffffffffffffffff\n  path: labels.csv\n")
    try repo.commit("new code and new labels")
    let third = try desiredAtHead()
    #expect(third.workdirDigests["fraud-train"] == (try repo.git("rev-parse", "HEAD:training")))
    #expect(third.workdirDigests["fraud-train"] != first.workdirDigests["fraud-train"])
    #expect(third.dvcDigests["fraud-train"]?["labels"] == "ffffffffffffffffffffffffffffffff")
  }

  @Test func aSymlinkInTheTreePointingOutsideIsRefused() throws {
    let repo = try fixture()
    try FileManager.default.createSymbolicLink(
      atPath: repo.path + "/manifests/evil.yaml", withDestinationPath: "../../../etc/passwd")
    try repo.commit("add a symlink")
    let git = try GitRepository.open(repo.path)
    let result = ManifestLoader.load(from: git.tree(at: try git.resolve("HEAD")), path: "manifests")
    #expect(
      result.diagnostics.map(\.description) == [
        "manifests/evil.yaml: error: symlink points outside the repository ('../../../etc/passwd'): refused"
      ])
  }

  @Test func aBareRemoteIsMirroredAndFetchedOverFileURLs() throws {
    let work = try fixture()
    let remote = try GitFixture()
    try remote.git("init", "-q", "--bare", "-b", "main", remote.path + "/origin.git")
    try work.git("remote", "add", "origin", remote.path + "/origin.git")
    try work.git("push", "-q", "origin", "main")
    let mirrorPath = remote.path + "/state/git/mirror.git"
    let url = "file://" + remote.path + "/origin.git"
    var mirror = try GitMirror.sync(url: url, into: mirrorPath, credentials: .none)
    #expect(try mirror.resolve("main").id.hex == (try work.git("rev-parse", "HEAD")))

    try work.write("manifests/fraud.yaml", modelManifest.replacingOccurrences(of: "version: 1", with: "version: 3"))
    let newer = try work.commit("pin v3")
    try work.git("push", "-q", "origin", "main")
    mirror = try GitMirror.sync(url: url, into: mirrorPath, credentials: .none)
    #expect(try mirror.resolve("main").id.hex == newer)
  }

  @Test func anUnreachableRemoteIsAClearErrorWithoutItsCredentials() throws {
    let scratch = try GitFixture()
    let url = "https://builder:s3cr3t-token@127.0.0.1:9/nowhere.git"
    #expect {
      try GitMirror.sync(url: url, into: scratch.path + "/mirror.git", credentials: .token("another-s3cr3t"))
    } throws: { error in
      let text = "\(error)"
      return text.contains("cloning https://***@127.0.0.1:9/nowhere.git") && !text.contains("s3cr3t")
    }
  }

  @Test func aCommitIsMaterializedIntoAFolder() throws {
    let repo = try fixture()
    let git = try GitRepository.open(repo.path)
    let target = repo.path + "/../checkout-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: target) }
    try git.materialize(try git.resolve("HEAD"), into: target)
    #expect(try String(contentsOfFile: target + "/training/train.py", encoding: .utf8) == "print('train')\n")
    #expect(FileManager.default.fileExists(atPath: target + "/manifests/fraud.yaml"))
  }

  @Test func urlsLoseTheirCredentialsInText() {
    #expect(
      redactURLs(in: "failed to reach https://u:tok@host/x.git and ssh://git@host:22/y")
        == "failed to reach https://***@host/x.git and ssh://***@host:22/y")
  }
}

@Suite struct GitHTTPAuthTests {
  @Test func aTokenAuthenticatesOverHTTPAndAWrongOneIsRefusedWithoutBeingShown() throws {
    let work = try GitFixture()
    try work.write("manifests/fraud.yaml", modelManifest)
    let head = try work.commit("initial")
    let served = try GitFixture()
    try served.git("clone", "-q", "--bare", work.path, served.path + "/ml-infra.git")
    let server = try GitHTTPServer(projectRoot: served.path, token: "t0ken-right")
    let url = "http://127.0.0.1:\(server.port)/ml-infra.git"

    let mirror = try GitMirror.sync(url: url, into: served.path + "/state/ok.git", credentials: .token("t0ken-right"))
    #expect(try mirror.resolve("main").id.hex == head)

    #expect {
      try GitMirror.sync(url: url, into: served.path + "/state/bad.git", credentials: .token("t0ken-wrong"))
    } throws: { error in
      let text = "\(error)"
      // Said as what it is (libgit2's own last error may be a stale, unrelated one).
      return text.contains("cloning \(url)") && !text.contains("t0ken")
        && text.contains("the remote refused the credentials: check source.auth")
    }
    #expect(throws: GitError.self) {
      try GitMirror.sync(url: url, into: served.path + "/state/none.git", credentials: .none)
    }
  }
}

@Suite struct WriteBackTests {
  let manifest = """
    apiVersion: modelops/v1
    kind: Model
    metadata: {name: fraud}
    spec:
      model: not-a-deployment   # another document's `model:` stays
    ---
    apiVersion: modelops/v1
    kind: Deployment
    metadata:
      name: fraud-api
    spec:
      model: fraud@production   # follows the alias
      replicas: 2

    """

  @Test func onlyTheDeploymentsModelLineIsPinnedAndItsCommentKept() throws {
    let pinned = try WriteBack.pinnedModel(in: manifest, nameLine: 10, pin: "fraud@v3", file: "d.yaml")
    #expect(pinned == manifest.replacingOccurrences(of: "fraud@production", with: "fraud@v3"))
    #expect {
      try WriteBack.pinnedModel(
        in: "kind: Deployment\nmetadata: {name: x}\nspec: {model: m@a}\n", nameLine: 2, pin: "m@v1", file: "d.yaml")
    } throws: { "\($0)".contains("d.yaml: no `model:` line") }
  }

  @Test func aRollbackBranchIsCommittedInTheMirrorAndPushedNeverTouchingTheTrackedBranch() throws {
    let work = try GitFixture()
    try work.write("manifests/deploy.yaml", manifest)
    let head = try work.commit("initial")
    let remote = try GitFixture()
    try remote.git("init", "-q", "--bare", "-b", "main", remote.path + "/origin.git")
    try work.git("remote", "add", "origin", remote.path + "/origin.git")
    try work.git("push", "-q", "origin", "main")
    let mirror = try GitMirror.sync(
      url: "file://" + remote.path + "/origin.git", into: remote.path + "/mirror.git", credentials: .none)

    for version in [3, 2] {  // a second rollback replaces the branch
      let branch = try WriteBack.pin(
        repository: mirror, trackedBranch: "main", file: "manifests/deploy.yaml", nameLine: 10,
        deployment: "fraud-api", model: "fraud", version: version, reason: "monitor 'errors' fired",
        push: GitCredentials.none)
      #expect(branch == "modelops/rollback/fraud-api")
    }
    let origin = remote.path + "/origin.git"
    #expect(try remote.git("--git-dir", origin, "rev-parse", "main") == head, "the tracked branch is untouched")
    let pushed = try remote.git("--git-dir", origin, "show", "modelops/rollback/fraud-api:manifests/deploy.yaml")
    #expect(pushed.contains("  model: fraud@v2   # follows the alias"))
    #expect(try remote.git("--git-dir", origin, "rev-parse", "modelops/rollback/fraud-api~1") == head, "one commit")
    let message = try remote.git("--git-dir", origin, "log", "-1", "--format=%s%n%b", "modelops/rollback/fraud-api")
    #expect(message.hasPrefix("Pin fraud-api to fraud v2 after a rollback"))
    #expect(message.contains("monitor 'errors' fired"))
  }
}
