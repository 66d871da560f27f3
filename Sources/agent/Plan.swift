import ArgumentParser
import Foundation
import GitSource
import ModelOpsCore
import StateStore

/// `agent plan`: what the agent would do now, or what merging HEAD into BASE would do.
struct PlanCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "plan",
    abstract: "Show the actions the agent would take, changing nothing.",
    discussion: """
      With --base, pull-request mode: what merging --head (default HEAD) into --base would change, \
      field by field, and what the agent would then do, assuming BASE is applied. Needs no agent state.

      Exit status: 0 success (with --detailed-exitcode: no changes), 2 changes (with \
      --detailed-exitcode), 1 error (including invalid manifests).
      """
  )

  @Option(help: "Agent configuration file (default ./agent.yaml, then /etc/modelops/agent.yaml).")
  var config: String?

  @Option(help: "A local repository to read instead of the configured source.")
  var repo: String?

  @Option(help: "Branch, tag or commit to plan (default: HEAD with --repo, else the configured branch).")
  var ref: String?

  @Option(help: "Pull-request mode: the branch or commit being merged into.")
  var base: String?

  @Option(help: "Pull-request mode: the branch or commit being merged (default: --ref, else HEAD).")
  var head: String?

  @Option(help: "Repo-relative folder of the manifests (default: the configuration's source.path, else the root).")
  var path: String?

  @Option(help: "State folder to plan against (default: the configuration's state; with --repo: none).")
  var state: String?

  @Option(help: "Output format: text, markdown or json.")
  var format: PlanFormat = .text

  @Flag(help: "Exit 0 when there are no changes, 2 when there are, 1 on error (as Terraform).")
  var detailedExitcode = false

  @Flag(help: "Allow a commit that removes every deployment to delete them.")
  var allowDeleteAll = false

  func validate() throws {
    if head != nil, base == nil { throw ValidationError("--head goes with --base") }
    if ref != nil, head != nil { throw ValidationError("give --ref or --head, not both") }
  }

  func run() throws {
    let report: PlanReport
    do {
      report = try makeReport()
    } catch let failure as CommandFailure {
      Terminal.standardError.write("\(Terminal.standardError.red("error:")) \(failure.description)\n")
      throw ExitCode(1)
    }
    let terminal = Terminal(handle: .standardOutput, fd: 1)
    switch format {
    case .text: print(PlanRenderer.text(report, colour: terminal.colour), terminator: "")
    case .markdown: print(PlanRenderer.markdown(report), terminator: "")
    case .json: print(PlanRenderer.json(report), terminator: "")
    }
    if detailedExitcode, report.plan.hasChanges { throw ExitCode(2) }
  }

  private func makeReport() throws -> PlanReport {
    let configuration = try ConfigLoading.load(explicit: config)
    let manifestsPath = path ?? configuration?.source.path ?? ""
    let repository = try openRepository(configuration)
    let reader = ManifestReader(path: manifestsPath)
    let headRef = head ?? ref ?? (repo != nil ? "HEAD" : configuration?.source.branch ?? "HEAD")
    let headState = try desiredState(at: headRef, repository, reader)
    let options = PlanOptions(allowDeleteAll: allowDeleteAll)
    let now = Date()

    if let base {
      let baseState = try desiredState(at: base, repository, ManifestReader(path: manifestsPath))
      let observed = ObservedState.assumingApplied(baseState, at: now)
      let plan = Planner.plan(desired: headState, observed: observed, now: now, options: options)
      return PlanReport(
        plan: plan, base: baseState.commit,
        changes: ManifestDiff.diff(base: baseState.manifests, head: headState.manifests),
        notes: [
          "pull-request mode: the plan assumes \(base) is applied and converged; versions behind policy aliases are unknown here (shown as v0)"
        ])
    }
    let stateFolder = state ?? (repo == nil ? configuration?.state : nil)
    var notes: [String] = []
    let observed: ObservedState
    if let stateFolder {
      guard FileManager.default.fileExists(atPath: "\(stateFolder)/state.db") else {
        throw CommandFailure("no agent state in \(stateFolder) (state.db is missing)")
      }
      do { observed = try StateStore(folder: stateFolder).observe() } catch { throw CommandFailure(error.description) }
    } else {
      observed = ObservedState()
      notes.append("no agent state given (--state): planned as if nothing had been applied yet")
    }
    let plan = Planner.plan(desired: headState, observed: observed, now: now, options: options)
    return PlanReport(plan: plan, notes: notes)
  }

  private func openRepository(_ configuration: AgentConfig?) throws -> GitRepository {
    do {
      if let repo { return try GitRepository.open(repo) }
      guard let configuration else {
        throw CommandFailure("no repository: give --repo PATH, or a configuration with source.url (--config)")
      }
      let source = configuration.source
      let credentials = try Credentials.resolve(source.auth)
      if !source.url.contains("://"), FileManager.default.fileExists(atPath: source.url) {
        return try GitRepository.open(source.url)
      }
      let mirror = GitMirror.folder(for: source.url, under: configuration.state)
      return try GitMirror.sync(url: source.url, into: mirror, credentials: credentials)
    } catch let error as GitError {
      throw CommandFailure(error.description)
    }
  }

  private func desiredState(at ref: String, _ repository: GitRepository, _ reader: ManifestReader) throws
    -> DesiredState
  {
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

enum PlanFormat: String, ExpressibleByArgument, CaseIterable {
  case text, markdown, json
}
