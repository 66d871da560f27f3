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

    if let base {
      let baseState = try source.desiredState(
        at: base, repository, ManifestReader(path: manifestsPath, options: .agent(configuration)))
      let observed = ObservedState.assumingApplied(baseState, at: now)
      let plan = Planner.plan(desired: headState, observed: observed, now: now, options: options)
      return PlanReport(
        plan: plan, base: baseState.commit,
        changes: ManifestDiff.diff(base: baseState.manifests, head: headState.manifests),
        notes: [
          "pull-request mode: the plan assumes \(base) is applied and converged; versions behind policy aliases are unknown here (shown as v0)"
        ])
    }
    let stateFolder = source.stateFolder(configuration)
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
}

enum PlanFormat: String, ExpressibleByArgument, CaseIterable {
  case text, markdown, json
}
