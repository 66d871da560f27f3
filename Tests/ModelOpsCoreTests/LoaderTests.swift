import Foundation
import ModelOpsCore
import Testing

/// A temporary folder that removes itself.
final class TemporaryFolder {
  let path: String

  init() throws {
    path = FileManager.default.temporaryDirectory.appendingPathComponent("modelops-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  func write(_ relative: String, _ text: String) throws {
    let url = URL(fileURLWithPath: path).appendingPathComponent(relative)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: url)
  }

  func link(_ relative: String, to target: String) throws {
    try FileManager.default.createSymbolicLink(atPath: "\(path)/\(relative)", withDestinationPath: target)
  }
}

@Suite struct LoaderTests {
  private func loadFolder(_ folder: TemporaryFolder, options: LoadOptions = LoadOptions()) -> LoadResult {
    ManifestLoader.load(from: DirectoryTree(root: folder.path), displayRoot: "m", options: options)
  }

  @Test func filesAreReadRecursivelyInByteOrderAndHiddenOnesSkipped() throws {
    let dir = try TemporaryFolder()
    let parts = baseManifests.components(separatedBy: "---\n")
    try dir.write("b/model.yaml", parts[0])
    try dir.write("a/pipeline.yml", parts[1])
    try dir.write("Z.yaml", parts[2] + "---\n" + parts[3])
    try dir.write(".hidden.yaml", "not: a manifest")
    try dir.write(".git/config.yaml", "not: a manifest")
    try dir.write("notes.txt", "ignored: by extension")
    let result = loadFolder(dir)
    #expect(result.diagnostics == [])
    #expect(result.files == ["m/Z.yaml", "m/a/pipeline.yml", "m/b/model.yaml"])
    #expect(result.manifests.count == 4)
  }

  @Test func aDocumentOfAnotherToolIsAnErrorUnlessItsFileIsIgnored() throws {
    let dir = try TemporaryFolder()
    try dir.write("base.yaml", baseManifests)
    try dir.write("helm/values.yaml", "replicaCount: 1\n")
    #expect(
      loadFolder(dir).diagnostics.map(\.description) == [
        "m/helm/values.yaml:1:1: error: not a ModelOps manifest: no apiVersion or kind (list the file in .modelopsignore if another tool owns it)"
      ])
    try dir.write(".modelopsignore", "# other tools\nhelm/\n")
    #expect(loadFolder(dir).isValid)
  }

  @Test func aSymlinkInsideTheTreeIsFollowedAndOneOutsideIsRefused() throws {
    let dir = try TemporaryFolder()
    try dir.write("shared/base.yaml", baseManifests)
    try dir.write(".modelopsignore", "/shared/\n")
    try dir.link("linked.yaml", to: "shared/base.yaml")
    #expect(loadFolder(dir).isValid)
    try dir.link("passwd.yaml", to: "/etc/passwd")
    try dir.link("up", to: "../..")
    let problems = loadFolder(dir).diagnostics.map(\.description)
    #expect(
      problems == [
        "m/passwd.yaml: error: symlink points outside the repository ('/etc/passwd'): refused",
        "m/up: error: symlink points outside the repository ('../..'): refused",
      ])
  }

  @Test func aSymlinkLoopIsWalkedOnce() throws {
    let dir = try TemporaryFolder()
    try dir.write("a/base.yaml", baseManifests)
    try dir.link("a/again", to: ".")
    let result = loadFolder(dir)
    #expect(result.isValid)
    #expect(result.manifests.count == 4)
  }

  @Test func aFileAboveTheSizeLimitIsRefusedUnread() throws {
    let dir = try TemporaryFolder()
    try dir.write("base.yaml", baseManifests)
    try dir.write("huge.yaml", "# " + String(repeating: "x", count: 1 << 20) + "\n")
    #expect(
      loadFolder(dir).diagnostics.map(\.description) == [
        "m/huge.yaml: error: file is larger than the 1024 KiB limit for a manifest"
      ])
  }

  @Test func aMissingOrEmptyPathIsAnErrorNeverAnEmptySet() throws {
    let dir = try TemporaryFolder()
    let missing = ManifestLoader.load(from: DirectoryTree(root: dir.path + "/nope"), displayRoot: "nope")
    #expect(
      missing.diagnostics.map(\.description) == [
        "nope: error: no such folder: the configured manifests path is missing"
      ])
    let empty = loadFolder(dir)
    #expect(!empty.isValid)
    #expect(empty.diagnostics.first?.message.hasPrefix("no manifests (*.yaml, *.yml) found") == true)
    try dir.write("only-comments.yaml", "# nothing yet\n---\n")
    #expect(loadFolder(dir).diagnostics.first?.message.hasPrefix("the manifest files hold no resources") == true)
  }

  @Test func aSubfolderOfATreeLoadsWithRepoRelativePaths() {
    let tree = MemoryTree(files: ["manifests/all.yaml": baseManifests, "README.md": "#"])
    let result = ManifestLoader.load(from: tree, path: "manifests")
    #expect(result.files == ["manifests/all.yaml"])
    #expect(result.isValid)
  }

  @Test func oneBadFileInvalidatesTheWholeTreeButEveryFileIsStillChecked() {
    let tree = MemoryTree(files: [
      "a.yaml": baseManifests,
      "b.yaml": document("Model", "m2", "aliases: {p: {version: 0}}"),
      "c.yaml": document("Model", "m3", "aliases: {p: {policy: newest}}"),
    ])
    let result = ManifestLoader.load(from: tree)
    #expect(!result.isValid)
    #expect(result.diagnostics.map(\.location.path) == ["b.yaml", "c.yaml"])
  }

  @Test func hostileFilesEachFailWithTheirOwnError() {
    var bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in 1...9 {
      bomb.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ",") + "]")
    }
    let tree = MemoryTree(files: [
      "base.yaml": baseManifests,
      "bomb.yaml": bomb.joined(separator: "\n"),
      "deep.yaml": "a: " + String(repeating: "{b: ", count: 100_000),
      "docs.yaml": String(repeating: "---\n# empty\n", count: 10_001),
    ])
    let messages = ManifestLoader.load(from: tree).diagnostics.map { "\($0.location.path): \($0.message)" }
    #expect(
      messages == [
        "bomb.yaml: aliases expand to more than 100000 nodes (a YAML alias bomb?)",
        "deep.yaml: nesting deeper than 64 levels",
        "docs.yaml: more than 10000 documents in one file",
      ])
  }

  @Test func aReferenceToAResourceWithItsOwnErrorsIsNotReportedAgain() {
    let tree = MemoryTree(files: [
      "model.yaml": document("Model", "m2", "aliases: {p: {version: 1}}\nretian: 5"),
      "deploy.yaml": document("Deployment", "d2", "model: m2@p\ncommand: [x]\nlisten: 127.0.0.1:9001"),
    ])
    let problems = ManifestLoader.load(from: tree).diagnostics.map(\.description)
    #expect(problems == ["model.yaml:7:3: error: unknown field 'retian' (did you mean 'retain'?)"])
  }

  @Test func aRootFolderThatIsASymlinkIsFollowed() throws {
    let dir = try TemporaryFolder()
    try dir.write("real/base.yaml", baseManifests)
    try dir.link("alias", to: "real")
    let result = ManifestLoader.load(from: DirectoryTree(root: dir.path + "/alias"))
    #expect(result.isValid)
    #expect(result.files == ["base.yaml"])
  }
}

@Suite struct RuntimeFitTests {
  func load(_ spec: String, runtime: Deployment.Runtime?) -> [String] {
    var options = LoadOptions()
    options.defaultRuntime = runtime
    let yaml =
      document("Model", "fraud", "aliases: {production: {version: 1}}") + "---\n"
      + document("Deployment", "api", spec)
    return ManifestLoader.load(from: MemoryTree(files: ["all.yaml": yaml]), options: options).diagnostics.map(
      \.description)
  }

  @Test func aDeploymentNamingNoRuntimeMustSuitTheAgents() {
    let imageOnly = "model: fraud@production\nimage: localhost/serving:1\nlisten: 127.0.0.1:9001"
    let commandOnly = "model: fraud@production\ncommand: [python3, serve.py]\nlisten: 127.0.0.1:9001"
    #expect(load(imageOnly, runtime: nil).isEmpty, "without agent.yaml the runtime is not known")
    #expect(load(imageOnly, runtime: .docker).isEmpty)
    #expect(load(commandOnly, runtime: .process).isEmpty)
    #expect(
      load(commandOnly, runtime: .docker) == [
        "all.yaml:11:9: error: deployment 'api' runs on the agent's docker runtime and has no 'image' (or set 'runtime: process')"
      ])
    #expect(
      load(imageOnly, runtime: .process) == [
        "all.yaml:11:9: error: deployment 'api' runs on the agent's process runtime and has no 'command' (or set 'runtime: docker')"
      ])
    // A deployment that names its runtime is judged by that alone.
    #expect(load("runtime: process\n" + commandOnly, runtime: .docker).isEmpty)
  }
}
