import Foundation
import Testing

/// A committed symlink that leads out of the repository is not a workdir or a DVC pointer: the
/// commit is refused before anything runs, on the built binary.
@Suite struct PathEscapeTests {
  @Test func aWorkdirThroughASymlinkOutOfTheRepositoryIsRefused() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let host = try Scratch()
    try host.write("train.py", "print('this is the host, not the commit')\n")
    try FileManager.default.createSymbolicLink(
      atPath: repo.path + "/escape", withDestinationPath: host.url.path)
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: "workdir: training", with: "workdir: escape")
    }
    try repo.commit("train in a host folder")
    let args = ["--repo", repo.path, "--path", "manifests"]
    let plan = try run(agentBinary(), ["plan"] + args)
    #expect(plan.status == 1)
    #expect(
      plan.stderr.contains(
        "pipeline iris-train: 'spec.workdir' (escape) goes through the symlink 'escape' → '\(host.url.path)'"),
      "\(plan.stderr)")
    let apply = try run(agentBinary(), ["apply"] + args + ["--state", repo.state])
    #expect(apply.status == 1, "\(apply.stdout)")
    #expect(!FileManager.default.fileExists(atPath: repo.state + "/runs"), "nothing was trained")
  }
}
