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

  func run() throws {
    try reportingFailures {
      if remote.server != nil {
        let statuses = try remote.decode(
          [ResourceStatus].self, try remote.get("status", config: source.config))
        if format == .json { return try printJSON(statuses) }
        return Self.printTable(statuses)
      }
      let configuration = try source.configuration()
      let store = try openStore(source.state, source.config)
      let repository = try source.repository(configuration)
      let desired = try source.desiredState(
        at: source.defaultRef(configuration), repository,
        ManifestReader(path: source.manifestsPath(configuration), options: .agent(configuration)))
      let observed: ObservedState
      do { observed = try store.observe() } catch { throw CommandFailure("\(error)") }
      let plan = Planner.plan(desired: desired, observed: observed, now: Date())
      let statuses = StatusReport.statuses(desired: desired, observed: observed, plan: plan)
      if format == .json { return try printJSON(statuses) }
      let applied = observed.appliedCommit.map { String($0.prefix(12)) } ?? "none"
      print("Commit \(desired.commit.map { String($0.prefix(12)) } ?? "-") (last applied: \(applied))\n")
      Self.printTable(statuses)
    }
  }

  static func printTable(_ statuses: [ResourceStatus]) {
    let width = statuses.map { "\($0.kind.rawValue)/\($0.name)".count }.max() ?? 0
    for status in statuses {
      let id = "\(status.kind.rawValue)/\(status.name)"
      let padded = id + String(repeating: " ", count: width - id.count)
      let sync = status.sync.rawValue + String(repeating: " ", count: 12 - status.sync.rawValue.count)
      let health = status.health.rawValue + String(repeating: " ", count: 12 - status.health.rawValue.count)
      print("\(padded)  \(sync)\(health)\(status.message)")
    }
  }
}

/// `agent retry DEPLOYMENT`: try a rolled-back revision again.
struct RetryCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "retry",
    abstract: "Try a failed (rolled-back) revision of a deployment again; it is not retried on its own.")

  @Argument(help: "The deployment.") var deployment: String
  @OptionGroup var state: StateOptions

  func run() throws {
    try reportingFailures {
      let store = try state.store()
      let cleared: Int
      do {
        cleared = try store.clearFailed(deployment: deployment)
        if cleared > 0 {
          try store.appendEvent(
            kind: "retry", resource: ResourceID(.deployment, deployment), commit: nil, cause: "agent retry",
            message: "\(cleared) failed revision(s) will be tried again", at: Date())
        }
      } catch { throw CommandFailure("\(error)") }
      guard cleared > 0 else { throw CommandFailure("deployment '\(deployment)' has no failed revision to retry") }
      print("Deployment \(deployment): \(cleared) failed revision(s) will be tried at the next reconcile.")
    }
  }
}

/// `agent promote DEPLOYMENT`: switch a blue-green rollout waiting on its preview.
struct PromoteCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "promote",
    abstract: "Switch a blue-green rollout (autoPromote: false) from its preview to all traffic.",
    discussion: """
      The switch happens at the next reconcile: at once under `agent run` (with --server, or \
      its next cycle), or on the next `agent apply`.
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
