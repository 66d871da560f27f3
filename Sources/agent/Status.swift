import ArgumentParser
import Foundation
import GitSource
import ModelOpsCore
import StateStore

/// `agent status`: every resource, synced or not, healthy or not, and why.
struct StatusCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "status",
    abstract: "Show every resource: synced / out of sync, healthy / progressing / degraded, and why.")

  @OptionGroup var source: SourceOptions
  @OptionGroup var remote: ServerOption
  @Option(help: "Output format: text or json.") var format: OutputFormat = .text
  @Flag(help: "Show whole messages (by default a line is cut to the terminal's width, or 120 columns).") var wide =
    false

  func run() throws {
    try reportingFailures {
      if remote.server != nil {
        let statuses = try remote.decode(
          [ResourceStatus].self, try remote.get("status", config: source.config))
        // An older agent has no `source` route: its resources are still shown.
        let report = (try? remote.get("source", config: source.config)).flatMap {
          try? remote.decode(SourceReport.self, $0)
        }
        if format == .json { return try printJSON(statuses) }
        if let report { report.lines.forEach { print($0) } }
        print()
        return printTable(statuses)
      }
      let configuration = try source.configuration()
      let store = try openStore(source.state, source.config)
      let repository = try source.repository(configuration)
      let reader = ManifestReader(path: source.manifestsPath(configuration), options: .agent(configuration))
      let observed: ObservedState
      do { observed = try store.observe() } catch { throw CommandFailure("\(error)") }
      let (desired, report) = try Self.desired(
        at: source.defaultRef(configuration), repository, reader, applied: observed.appliedCommit)
      let plan = Planner.plan(desired: desired, observed: observed, now: Date())
      let statuses = StatusReport.statuses(desired: desired, observed: observed, plan: plan)
      if format == .json { return try printJSON(statuses) }
      report.lines.forEach { print($0) }
      print()
      printTable(statuses)
    }
  }

  /// The desired state at `ref`, or, when its manifests are invalid, at the last applied commit
  /// (what the agent reconciles), with the report saying so.
  static func desired(at ref: String, _ repository: GitRepository, _ reader: ManifestReader, applied: String?)
    throws -> (DesiredState, SourceReport)
  {
    let commit: CommitInfo
    do { commit = try repository.resolve(ref) } catch { throw CommandFailure(error.description) }
    let tree = repository.tree(at: commit)
    let result = reader.load(tree)
    if result.isValid {
      let head = commit.id.hex
      return (reader.desiredState(result, tree: tree, commit: commit), SourceReport(head: head, reconciled: head))
    }
    let errors = result.diagnostics.filter { $0.severity == .error }.map(\.description)
    var report = SourceReport(
      head: commit.id.hex, invalidHead: commit.id.hex, errors: Array(errors.prefix(SourceReport.maxErrors)),
      errorCount: errors.count)
    guard let applied, let last = try? repository.resolve(applied),
      case let lastResult = reader.load(repository.tree(at: last)),
      lastResult.isValid
    else {
      throw CommandFailure(
        "the manifests at \(ref) (\(commit.id.hex.prefix(12))) are invalid and no valid commit was applied yet:\n"
          + errors.joined(separator: "\n"))
    }
    report.reconciled = last.id.hex
    return (reader.desiredState(lastResult, tree: repository.tree(at: last), commit: last), report)
  }

  func printTable(_ statuses: [ResourceStatus]) {
    let terminal = Terminal(handle: .standardOutput, fd: 1)
    print(
      StatusTable.render(statuses, width: wide ? nil : Terminal.columns(fd: 1), colour: terminal.colour), terminator: ""
    )
  }
}

/// `agent retry DEPLOYMENT`: try a rolled-back revision again.
struct RetryCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "retry",
    abstract: "Try a deployment's failed (rolled-back) revisions, or a stalled or backing-off resource, again now.",
    discussion: """
      A rolled-back revision is not rolled out again on its own until the desired revision       changes; a stalled resource is not tried until its desired state changes; a retrying one       waits for its backoff. `retry NAME` forgets all three for the deployment or pipeline NAME.
      """)

  @Argument(help: "The deployment or pipeline.") var name: String
  @OptionGroup var state: StateOptions
  @OptionGroup var remote: ServerOption

  func run() throws {
    try reportingFailures {
      let said: [String]
      if remote.server != nil {
        let answer = try remote.call("POST", "retry/\(escaped(name))", config: state.config)
        said = try remote.decode([String: [String]].self, answer.body)["retried"] ?? []
      } else {
        do { said = try state.store().retry(name) } catch let error as StateError {
          throw CommandFailure(error.description)
        }
        guard !said.isEmpty else { throw CommandFailure(RetryCommand.nothing(name)) }
      }
      print("\(name): " + said.joined(separator: "; ") + "; the next reconcile tries again.")
    }
  }

  static func nothing(_ name: String) -> String {
    "'\(name)' has no failed revision, and no stalled or retrying deployment or pipeline"
  }
}

/// `agent promote DEPLOYMENT`: switch a blue-green rollout waiting on its preview.
struct PromoteCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "promote",
    abstract: "End a rollout's current wait: a blue-green preview, or a canary step's pause.",
    discussion: """
      A blue-green rollout with autoPromote: false switches to all traffic; a canary moves past \
      its current step's pause (and the wait for its analysis data). It happens at the next \
      reconcile: at once under `agent run` (with --server, or its next cycle), or on the next \
      `agent apply`.
      """)

  @Argument(help: "The deployment.") var deployment: String
  @OptionGroup var state: StateOptions
  @OptionGroup var remote: ServerOption

  func run() throws {
    try reportingFailures {
      if remote.server != nil {
        _ = try remote.call("POST", "deployments/\(escaped(deployment))/promote", config: state.config)
        print("Deployment \(deployment): promotion approved; the agent switches traffic now.")
        return
      }
      let store = try state.store()
      let approved: Bool
      do { approved = try store.approvePromotion(deployment, at: Date()) } catch { throw CommandFailure("\(error)") }
      guard approved else { throw CommandFailure("deployment '\(deployment)' has no rollout waiting for promotion") }
      print("Deployment \(deployment): promotion approved; the next reconcile switches traffic.")
    }
  }
}
