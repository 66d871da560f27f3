import ArgumentParser
import Foundation
import GitSource
import ModelOpsCore

/// Where the manifests come from and where state lives: shared by the commands that read them.
struct SourceOptions: ParsableArguments {
  @Option(help: "Agent configuration file (default ./agent.yaml, then /etc/modelops/agent.yaml).")
  var config: String?

  @Option(help: "A local repository to read instead of the configured source.")
  var repo: String?

  @Option(help: "Branch, tag or commit (default: HEAD with --repo, else the configured branch).")
  var ref: String?

  @Option(help: "Repo-relative folder of the manifests (default: the configuration's source.path, else the root).")
  var path: String?

  @Option(help: "State folder (default: the configuration's state; with --repo: none for plan).")
  var state: String?

  func configuration() throws -> AgentConfig? { try ConfigLoading.load(explicit: config) }

  func manifestsPath(_ configuration: AgentConfig?) -> String { path ?? configuration?.source.path ?? "" }

  /// The state folder: `--state`, else the configuration's (unless `--repo` asks for a local read).
  func stateFolder(_ configuration: AgentConfig?) -> String? { state ?? (repo == nil ? configuration?.state : nil) }

  /// The local repository, or a bare mirror of the configured remote fetched now.
  func repository(_ configuration: AgentConfig?) throws -> GitRepository {
    do {
      if let repo { return try GitRepository.open(repo) }
      guard let configuration else {
        throw CommandFailure("no repository: give --repo PATH, or a configuration with source.url (--config)")
      }
      let source = configuration.source
      if !source.url.contains("://"), FileManager.default.fileExists(atPath: source.url) {
        return try GitRepository.open(source.url)
      }
      let mirror = GitMirror.folder(for: source.url, under: configuration.state)
      return try GitMirror.sync(url: source.url, into: mirror, credentials: try Credentials.resolve(source.auth))
    } catch let error as GitError {
      throw CommandFailure(error.description)
    }
  }

  /// The ref to read when none is named.
  func defaultRef(_ configuration: AgentConfig?) -> String {
    ref ?? (repo != nil ? "HEAD" : configuration?.source.branch ?? "HEAD")
  }

  /// The desired state at a ref; invalid manifests are an error listing every problem.
  func desiredState(at ref: String, _ repository: GitRepository, _ reader: ManifestReader) throws -> DesiredState {
    let commit: CommitInfo
    do { commit = try repository.resolve(ref) } catch { throw CommandFailure(error.description) }
    let tree = repository.tree(at: commit)
    let result = reader.load(tree)
    guard result.isValid else {
      let errors = result.diagnostics.map(\.description).joined(separator: "\n")
      throw CommandFailure(
        "the manifests at \(ref) (\(commit.id.hex.prefix(12))) are invalid; nothing would be applied:\n\(errors)")
    }
    return reader.desiredState(result, tree: tree, commit: commit)
  }
}

/// Runs a command body, printing a `CommandFailure` as `error: …` with exit status 1.
func reportingFailures(_ body: () throws -> Void) throws {
  do {
    try body()
  } catch let failure as CommandFailure {
    Terminal.standardError.write("\(Terminal.standardError.red("error:")) \(failure.description)\n")
    throw ExitCode(1)
  }
}
