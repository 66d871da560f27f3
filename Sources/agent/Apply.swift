import ArgumentParser
import Drivers
import Foundation
import GitSource
import ModelOpsCore
import Reconciler
import StateStore

/// `agent apply`: one reconcile, waiting until its actions finish; progress on stderr.
struct ApplyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "apply",
    abstract: "Reconcile once: train, register, promote, roll out; wait until done.",
    discussion: """
      Progress goes to stderr, the outcome to stdout. Exit status: 0 when every action succeeded, \
      1 when one failed (or the manifests are invalid). Replicas keep running after apply returns; \
      a deployment's stable `listen` endpoint is served by `agent run`.
      """
  )

  @OptionGroup var source: SourceOptions

  @Flag(help: "Allow a commit that removes every deployment to delete them.")
  var allowDeleteAll = false

  func run() throws {
    try reportingFailures {
      let configuration = try source.configuration()
      guard let folder = source.state ?? configuration?.state else {
        throw CommandFailure("no state folder: give --state DIR, or a configuration with 'state'")
      }
      let lock: StateLock
      do { lock = try StateLock(folder: folder) } catch { throw CommandFailure("\(error)") }
      let repository = try source.repository(configuration)
      let desired = try source.desiredState(
        at: source.defaultRef(configuration), repository, ManifestReader(path: source.manifestsPath(configuration)))
      let report: ApplyReport
      do {
        let store = try StateStore(folder: folder)
        let registry = BuiltinRegistry(store: store, folder: folder)
        let runner = TrainingRunner(store: store, registry: registry, repository: repository, stateFolder: folder)
        let progress: @Sendable (String) -> Void = { line in Terminal.standardError.write(line + "\n") }
        let serving = ServingExecutor(
          store: store, registry: registry, repository: repository, stateFolder: folder, progress: progress)
        let reconciler = Reconciler(
          store: store, registry: registry, runner: runner, serving: serving, progress: progress)
        report = try reconciler.apply(desired, options: PlanOptions(allowDeleteAll: allowDeleteAll))
      } catch let error as StateError {
        throw CommandFailure(error.description)
      }
      withExtendedLifetime(lock) {}
      print(Self.summary(report, commit: desired.commit), terminator: "")
      if report.failed { throw ExitCode(1) }
    }
  }

  static func summary(_ report: ApplyReport, commit: String?) -> String {
    var out = ""
    let done = report.executed.filter { $0.error == nil }.count
    let failed = report.executed.count - done
    out += "Applied commit \(commit.map { String($0.prefix(12)) } ?? "-"): \(done) done, \(failed) failed"
    out += report.notReconciled.isEmpty ? ".\n" : ", \(report.notReconciled.count) not reconciled by this build.\n"
    for action in report.notReconciled {
      out += "  not reconciled: \(action.resource) \(action.headline)\n"
    }
    for action in report.held { out += "  held: \(action.resource): \(action.reason)\n" }
    return out
  }
}
