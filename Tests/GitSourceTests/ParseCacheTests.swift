import Foundation
import GitSource
import ModelOpsCore
import ModelOpsTesting
import Testing

/// A reader re-parses only the files whose blob changed, and what it returns is what a full load
/// of the same commit returns.
@Suite struct ParseCacheTests {
  static func model(_ name: String, version: Int = 1) -> String {
    "apiVersion: modelops/v1\nkind: Model\nmetadata: {name: \(name)}\nspec:\n  aliases: {production: {version: \(version)}}\n"
  }

  /// Three files of one model each, committed on `main`.
  func fixture() throws -> GitFixture {
    let repo = try GitFixture()
    for name in ["a", "b", "c"] { try repo.write("manifests/\(name).yaml", Self.model(name)) }
    try repo.commit("three models")
    return repo
  }

  /// Loads HEAD with the reader, and checks the result against a load that uses no cache.
  func loadHead(_ repo: GitFixture, _ reader: ManifestReader) throws -> LoadResult {
    let git = try GitRepository.open(repo.path)
    let tree = git.tree(at: try git.resolve("HEAD"))
    let result = reader.load(tree)
    let fresh = ManifestLoader.load(from: tree, path: reader.path)
    #expect(result.manifests == fresh.manifests)
    #expect(result.diagnostics == fresh.diagnostics)
    #expect(result.files == fresh.files)
    return result
  }

  @Test func aCommitChangingOneFileReparsesOnlyThatFile() throws {
    let repo = try fixture()
    let reader = ManifestReader(path: "manifests")
    _ = try loadHead(repo, reader)
    #expect(reader.lastLoad == (parsed: 3, reused: 0))
    try repo.write("manifests/b.yaml", Self.model("b", version: 2))
    try repo.commit("pin b to v2")
    let result = try loadHead(repo, reader)
    #expect(reader.lastLoad == (parsed: 1, reused: 2))
    #expect(reader.filesParsed == 4)
    #expect(result.manifests.models["b"]?.spec.alias(named: "production")?.target == .pinned(version: 2))
  }

  @Test func anUnchangedInvalidFileKeepsItsDiagnostics() throws {
    let repo = try fixture()
    try repo.write("manifests/broken.yaml", "apiVersion: modelops/v1\nkind: Model\nmetadata: {name: 'Bad Name'}\n")
    try repo.commit("add an invalid file")
    let reader = ManifestReader(path: "manifests")
    let first = try loadHead(repo, reader)
    #expect(!first.isValid)
    try repo.write("manifests/a.yaml", Self.model("a", version: 3))
    try repo.commit("pin a to v3")
    let second = try loadHead(repo, reader)
    #expect(reader.lastLoad == (parsed: 1, reused: 3))
    #expect(!second.diagnostics.isEmpty)
    #expect(second.diagnostics == first.diagnostics)
    #expect(second.diagnostics.allSatisfy { $0.location.path == "manifests/broken.yaml" })
  }

  @Test func aRemovedFileDisappearsAndLeavesTheCache() throws {
    let repo = try fixture()
    let reader = ManifestReader(path: "manifests")
    _ = try loadHead(repo, reader)
    try repo.git("rm", "-q", "manifests/c.yaml")
    try repo.commit("remove c")
    let result = try loadHead(repo, reader)
    #expect(reader.lastLoad == (parsed: 0, reused: 2))
    #expect(result.files == ["manifests/a.yaml", "manifests/b.yaml"])
    #expect(result.manifests.models["c"] == nil)
  }

  @Test func aRenamedFileIsLocatedAtItsNewPath() throws {
    let repo = try fixture()
    let reader = ManifestReader(path: "manifests")
    _ = try loadHead(repo, reader)
    try repo.git("mv", "manifests/c.yaml", "manifests/renamed.yaml")
    try repo.commit("rename c")
    let result = try loadHead(repo, reader)
    #expect(reader.lastLoad == (parsed: 1, reused: 2))
    #expect(result.manifests.locations[ResourceID(.model, "c")]?.path == "manifests/renamed.yaml")
  }

  @Test func checksAcrossFilesSeeAChangeAgainstUnchangedFiles() throws {
    let repo = try fixture()
    let reader = ManifestReader(path: "manifests")
    _ = try loadHead(repo, reader)
    try repo.write("manifests/b.yaml", Self.model("a"))
    try repo.commit("b now declares a again")
    let result = try loadHead(repo, reader)
    #expect(reader.lastLoad == (parsed: 1, reused: 2))
    #expect(result.diagnostics.map(\.message).contains { $0.hasPrefix("duplicate Model 'a'") })
  }

  @Test func aReferenceFromAnUnchangedFileBreaksWhenItsTargetGoes() throws {
    let repo = try fixture()
    try repo.write(
      "manifests/d.yaml",
      "apiVersion: modelops/v1\nkind: Pipeline\nmetadata: {name: train-c}\nspec:\n  model: c\n  steps: [{name: train, run: python3 train.py}]\n"
    )
    try repo.commit("a pipeline for c")
    let reader = ManifestReader(path: "manifests")
    #expect(try loadHead(repo, reader).isValid)
    try repo.write("manifests/c.yaml", Self.model("c2"))
    try repo.commit("rename model c to c2")
    let result = try loadHead(repo, reader)
    #expect(reader.lastLoad == (parsed: 1, reused: 3))
    #expect(result.diagnostics.contains { $0.location.path == "manifests/d.yaml" })
  }

  @Test func aDuplicateFixedLaterIsNoLongerReported() throws {
    let repo = try fixture()
    let reader = ManifestReader(path: "manifests")
    _ = try loadHead(repo, reader)
    try repo.write("manifests/c.yaml", Self.model("a"))
    try repo.commit("c declares a again")
    #expect(!(try loadHead(repo, reader)).isValid)
    try repo.write("manifests/c.yaml", Self.model("c", version: 5))
    try repo.commit("c is c again")
    let fixed = try loadHead(repo, reader)
    #expect(fixed.isValid, "\(fixed.diagnostics)")
    #expect(fixed.manifests.models.keys.sorted() == ["a", "b", "c"])
  }

  @Test func aFileReachedThroughASymlinkIsReadAtEveryCommit() throws {
    let repo = try fixture()
    try repo.write("shared/d.yaml", Self.model("d"))
    try FileManager.default.createSymbolicLink(
      atPath: repo.path + "/manifests/d.yaml", withDestinationPath: "../shared/d.yaml")
    try repo.commit("d through a symlink")
    let reader = ManifestReader(path: "manifests")
    _ = try loadHead(repo, reader)
    try repo.write("shared/d.yaml", Self.model("d", version: 4))
    try repo.commit("pin d to v4 outside the manifests folder")
    let result = try loadHead(repo, reader)
    #expect(reader.lastLoad == (parsed: 1, reused: 3))
    #expect(result.manifests.models["d"]?.spec.alias(named: "production")?.target == .pinned(version: 4))
  }

  @Test func anIgnoreRuleAddedLaterHidesACachedFile() throws {
    let repo = try fixture()
    let reader = ManifestReader(path: "manifests")
    _ = try loadHead(repo, reader)
    try repo.write("manifests/.modelopsignore", "c.yaml\n")
    try repo.commit("ignore c")
    let result = try loadHead(repo, reader)
    #expect(reader.lastLoad == (parsed: 0, reused: 2))
    #expect(result.manifests.models["c"] == nil)
  }

  /// Two teams' folders, two files each.
  func nested() throws -> GitFixture {
    let repo = try GitFixture()
    for team in ["red", "blue"] {
      for name in ["a", "b"] { try repo.write("manifests/\(team)/\(name).yaml", Self.model("\(team)-\(name)")) }
    }
    try repo.commit("two teams")
    return repo
  }

  @Test func anUnchangedFolderIsNotWalkedAgain() throws {
    let repo = try nested()
    let reader = ManifestReader(path: "manifests")
    _ = try loadHead(repo, reader)
    #expect(reader.lastFoldersReused == 0)
    try repo.write("manifests/red/c.yaml", Self.model("red-c"))
    try repo.commit("a third file for red")
    let result = try loadHead(repo, reader)
    #expect(reader.lastFoldersReused == 1)  // blue
    #expect(reader.lastLoad == (parsed: 1, reused: 4))
    #expect(
      result.files == [
        "manifests/blue/a.yaml", "manifests/blue/b.yaml", "manifests/red/a.yaml",
        "manifests/red/b.yaml", "manifests/red/c.yaml",
      ])
  }

  @Test func aFolderHoldingASymlinkIsWalkedAtEveryCommit() throws {
    let repo = try nested()
    try repo.write("shared/one.yaml", Self.model("shared-one"))
    try FileManager.default.createSymbolicLink(
      atPath: repo.path + "/manifests/blue/link", withDestinationPath: "../../shared")
    try repo.commit("blue links a shared folder")
    let reader = ManifestReader(path: "manifests")
    _ = try loadHead(repo, reader)
    try repo.write("shared/two.yaml", Self.model("shared-two"))
    try repo.commit("a second shared file (blue's tree is unchanged)")
    let result = try loadHead(repo, reader)
    #expect(reader.lastFoldersReused == 1)  // red; blue holds the link
    #expect(result.manifests.models["shared-two"] != nil)
  }

  @Test func anIgnoreRuleAddedLaterHidesAFileOfAnUnchangedFolder() throws {
    let repo = try nested()
    let reader = ManifestReader(path: "manifests")
    _ = try loadHead(repo, reader)
    try repo.write("manifests/.modelopsignore", "blue/b.yaml\n")
    try repo.commit("ignore blue/b")
    let result = try loadHead(repo, reader)
    #expect(reader.lastFoldersReused == 0)
    #expect(result.manifests.models["blue-b"] == nil)
    #expect(result.manifests.models["blue-a"] != nil)
  }
}
