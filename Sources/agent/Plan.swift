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
      field by field, and what the agent would then do: against the agent's state with --state (real \
      version numbers), else assuming BASE is applied and converged (no agent state needed).

      Exit status: 0 success (with --detailed-exitcode: no changes), 2 changes (with \
      --detailed-exitcode), 1 error (including invalid manifests).
      """
  )

  @OptionGroup var source: SourceOptions

  @Option(help: "Pull-request mode: the branch or commit being merged into.")
  var base: String?

  @Option(help: "Pull-request mode: the branch or commit being merged (default: --ref, else HEAD).")
  var head: String?

  @Option(help: "Output format: text, markdown or json.")
  var format: PlanFormat = .text

  @Flag(help: "Exit 0 when there are no changes, 2 when there are, 1 on error (as Terraform).")
  var detailedExitcode = false

  @Flag(help: "Allow a commit that removes every deployment to delete them.")
  var allowDeleteAll = false

  func validate() throws {
    if head != nil, base == nil { throw ValidationError("--head goes with --base") }
    if source.ref != nil, head != nil { throw ValidationError("give --ref or --head, not both") }
  }

  func run() throws {
    var report = PlanReport(plan: Plan(commit: nil, actions: []))
    try reportingFailures { report = try makeReport() }
    let terminal = Terminal(handle: .standardOutput, fd: 1)
    switch format {
    case .text: print(PlanRenderer.text(report, colour: terminal.colour), terminator: "")
    case .markdown: print(PlanRenderer.markdown(report), terminator: "")
    case .json: print(PlanRenderer.json(report), terminator: "")
    }
    if detailedExitcode, report.plan.hasChanges { throw ExitCode(2) }
  }

  private func makeReport() throws -> PlanReport {
    let configuration = try source.configuration()
    let manifestsPath = source.manifestsPath(configuration)
    let repository = try source.repository(configuration)
    let headState = try source.desiredState(
      at: head ?? source.defaultRef(configuration), repository,
      ManifestReader(path: manifestsPath, options: .agent(configuration)))
    let options = PlanOptions(allowDeleteAll: allowDeleteAll)
    let now = Date()

    let stateFolder = source.stateFolder(configuration)
    if let base {
      let baseState = try source.desiredState(
        at: base, repository, ManifestReader(path: manifestsPath, options: .agent(configuration)))
      // With the agent's state, the real registry and serving state (real version numbers);
      // without, the base as if applied and converged.
      let observed: ObservedState
      let note: String
      if let stateFolder {
        observed = try Self.observe(stateFolder)
        note = "pull-request mode: planned against the agent's state in \(stateFolder)"
      } else {
        observed = ObservedState.assumingApplied(baseState, at: now)
        note =
          "pull-request mode: the plan assumes \(base) is applied and converged; versions behind policy aliases "
          + "are unknown here (shown from v0; give --state for the registry's numbers)"
      }
      let plan = Planner.plan(desired: headState, observed: observed, now: now, options: options)
      return PlanReport(
        plan: plan, base: baseState.commit,
        changes: ManifestDiff.diff(base: baseState.manifests, head: headState.manifests),
        notes: [note] + (stateFolder == nil ? [] : Self.heldBack(headState, observed, now: now)))
    }
    var notes: [String] = []
    let observed: ObservedState
    if let stateFolder {
      observed = try Self.observe(stateFolder)
    } else {
      observed = ObservedState()
      notes.append("no agent state given (--state): planned as if nothing had been applied yet")
    }
    let plan = Planner.plan(desired: headState, observed: observed, now: now, options: options)
    return PlanReport(plan: plan, notes: notes + Self.heldBack(headState, observed, now: now))
  }

  /// Versions a policy's gates keep from an alias, and why: a plan with no change still says so.
  static func heldBack(_ desired: DesiredState, _ observed: ObservedState, now: Date) -> [String] {
    desired.manifests.models.keys.sorted().flatMap { name -> [String] in
      guard let model = desired.manifests.models[name], let seen = observed.models[name] else { return [] }
      return AliasPolicy.heldBack(model, seen, now: now).sorted { $0.key < $1.key }.map { alias, held in
        "Model \(name): \(held.description), so it does not take '\(alias)'"
      }
    }
  }
}

extension PlanCommand {
  /// The agent's state in `folder`, read only.
  static func observe(_ folder: String) throws -> ObservedState {
    guard FileManager.default.fileExists(atPath: "\(folder)/state.db") else {
      throw CommandFailure("no agent state in \(folder) (state.db is missing)")
    }
    do { return try StateStore(folder: folder).observe() } catch { throw CommandFailure(error.description) }
  }
}

enum PlanFormat: String, ExpressibleByArgument, CaseIterable {
  case text, markdown, json
}
