import ArgumentParser
import Foundation
import ModelOpsCore
import StateStore

/// The state folder a command reads: `--state`, else the configuration's `state`.
struct StateOptions: ParsableArguments {
  @Option(help: "State folder (default: the configuration's state).") var state: String?
  @Option(help: "Agent configuration file (default ./agent.yaml, then /etc/modelops/agent.yaml).") var config: String?

  func store() throws -> StateStore { try openStore(state, config) }
}

/// Opens an existing state store.
func openStore(_ state: String?, _ config: String?) throws -> StateStore {
  let folder = try state ?? ConfigLoading.load(explicit: config)?.state
  guard let folder else { throw CommandFailure("no state folder: give --state DIR, or a configuration with 'state'") }
  guard FileManager.default.fileExists(atPath: "\(folder)/state.db") else {
    throw CommandFailure("no agent state in \(folder) (state.db is missing)")
  }
  do { return try StateStore(folder: folder) } catch { throw CommandFailure(error.description) }
}

func printJSON<T: Encodable>(_ value: T) throws {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
  encoder.dateEncodingStrategy = .iso8601
  print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// `agent models [NAME]`: versions, aliases, metrics and lineage.
struct ModelsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "models",
    abstract: "List registry versions with their aliases, metrics and lineage.",
    discussion:
      "A table of every version, newest first; NAME --version N shows one version whole (lineage, params, inputs).")

  @Argument(help: "Only this model.") var name: String?
  @Option(help: "Only this version (with a model's name).") var version: Int?
  @OptionGroup var state: StateOptions
  @OptionGroup var remote: ServerOption
  @Option(help: "Output format: text or json.") var format: OutputFormat = .text
  @Flag(help: "Show whole lines (by default a line is cut to the terminal's width, or 120 columns).") var wide = false
  @Flag(
    help:
      "Check each version's stored artifact against its recorded digest, and its signature under `signing`; exit 1 if one fails."
  ) var verify = false

  func run() throws {
    try reportingFailures {
      var versions: [VersionRecord]
      if version != nil, name == nil {
        throw CommandFailure("--version needs a model's name: agent models NAME --version N")
      }
      if verify { return try verifyVersions() }
      if remote.server != nil {
        let data = try remote.get("models" + (name.map { "?name=\(escaped($0))" } ?? ""), config: state.config)
        versions = try remote.decode([VersionRecord].self, data)
      } else {
        do { versions = try state.store().versions(model: name) } catch let error as StateError {
          throw CommandFailure(error.description)
        }
      }
      if let version {
        versions = versions.filter { $0.version == version }
        if versions.isEmpty, let name { throw CommandFailure("model \(name) has no version \(version)") }
      }
      if format == .json { return try printJSON(versions) }
      if versions.isEmpty { return print("No model versions registered\(name.map { " for \($0)" } ?? "").") }
      if version != nil { return versions.forEach(Self.printWhole) }
      let summaries = versions.map { v in
        VersionSummary(
          model: v.model, version: v.version, aliases: v.aliases, metrics: v.metrics, createdAt: v.createdAt,
          run: v.lineage["run"], commit: v.lineage["commit"],
          note: v.rejectedReason.map { "rejected: \($0)" } ?? v.heldBack
            ?? (v.collectedAt != nil ? "artifact collected" : nil))
      }
      print(ModelsTable.render(summaries, width: wide ? nil : Terminal.columns(fd: 1)), terminator: "")
    }
  }

  /// `--verify`: read from the state folder and the registry the configuration names.
  private func verifyVersions() throws {
    guard remote.server == nil else {
      throw CommandFailure("--verify reads the registry itself: give --state or --config")
    }
    let configuration = try ConfigLoading.load(explicit: state.config)
    let store = try state.store()
    var versions: [VersionRecord]
    do { versions = try store.versions(model: name) } catch { throw CommandFailure(error.description) }
    if let version { versions = versions.filter { $0.version == version } }
    if versions.isEmpty { return print("No model versions registered\(name.map { " for \($0)" } ?? "").") }
    let registry = (configuration?.registry ?? .builtin).driver(store: store, folder: store.folder)
    let signer = try RunCommand.signer(configuration, checkOnly: true)
    if signer == nil { print("No signing configured: only the artifacts' digests are checked.") }
    try VersionVerification.report(VersionVerification.check(versions, registry: registry, signer: signer))
  }

  /// One version with everything known of it.
  static func printWhole(_ v: VersionRecord) {
    let aliases = v.aliases.isEmpty ? "" : "  [\(v.aliases.joined(separator: ", "))]"
    print("\(v.model) v\(v.version)\(aliases)")
    if let reason = v.rejectedReason { print("  rejected: \(reason)") }
    let metrics = v.metrics.keys.sorted().map { "\($0)=\(ModelsTable.format(v.metrics[$0] ?? 0))" }
    if !metrics.isEmpty { print("  metrics: \(metrics.joined(separator: " "))") }
    let collected = v.collectedAt.map { " (garbage-collected \($0.formatted(.iso8601)))" } ?? ""
    print("  artifact: \(v.artifactDigest ?? "-")\(collected)")
    print("  signature: \(v.signature == nil ? "none" : "SSH (agent models --verify checks it)")")
    print("  registered: \(v.createdAt.formatted(.iso8601))")
    for key in ["commit", "signer", "run", "pipeline", "pipelineDigest", "startedAt", "finishedAt"] {
      if let value = v.lineage[key], !value.isEmpty { print("  \(key): \(value)") }
    }
    for (label, values) in [("params", v.params), ("inputs", v.inputs)] {
      guard let values, !values.isEmpty else { continue }
      print("  \(label): " + values.keys.sorted().map { "\($0)=\(values[$0] ?? "")" }.joined(separator: " "))
    }
  }
}

/// `agent history [NAME]`: the audit trail.
struct HistoryCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "history",
    abstract: "Show the audit trail: which commit or policy caused which action, and its result.")

  @Argument(help: "Only events of resources with this name.") var name: String?
  @OptionGroup var state: StateOptions
  @OptionGroup var remote: ServerOption
  @Option(help: "Output format: text or json.") var format: OutputFormat = .text

  func run() throws {
    try reportingFailures {
      let events: [EventRecord]
      if remote.server != nil {
        let data = try remote.get("events" + (name.map { "?name=\(escaped($0))" } ?? ""), config: state.config)
        events = try remote.decode([EventRecord].self, data)
      } else {
        do { events = try state.store().events(named: name) } catch let error as StateError {
          throw CommandFailure(error.description)
        }
      }
      if format == .json { return try printJSON(events) }
      if events.isEmpty { print("No events yet.") }
      for e in events {
        print("\(e.at.formatted(.iso8601))  \(e.kind)  \(e.resource)  \(e.message)")
        print("    because \(e.cause)")
      }
    }
  }
}

/// `agent logs RUN-ID`: a training run's output.
struct LogsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print a training run's output.")

  @Argument(help: "The run id (agent history and agent models show them).") var runID: String
  @OptionGroup var state: StateOptions
  @OptionGroup var remote: ServerOption

  func run() throws {
    try reportingFailures {
      if remote.server != nil {
        let answer = try remote.call("GET", "runs/\(escaped(runID))/log", config: state.config)
        return FileHandle.standardOutput.write(answer.body)
      }
      let store = try state.store()
      guard let run = try? store.run(id: runID), !runID.contains("/"), !runID.hasPrefix(".") else {
        throw CommandFailure("no run named '\(runID)'")
      }
      let log = "\(store.folder)/runs/\(run.id)/run.log"
      guard let data = FileManager.default.contents(atPath: log) else {
        throw CommandFailure("run \(runID) has no log")
      }
      FileHandle.standardOutput.write(data)
    }
  }
}
