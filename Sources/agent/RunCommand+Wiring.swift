import ArgumentParser
import Drivers
import Foundation
import GitSource
import Logging
import ModelOpsCore
import Reconciler
import Server
import ServiceLifecycle
import StateStore

/// What `agent run` is wired from: the source and its verifier, the user steps run as, write-back,
/// and the progress and serving lines it logs and exposes.
extension RunCommand {
  /// Progress as log lines: the message, with what it is about as metadata.
  static func progressLog(_ logger: Logger) -> ProgressSink {
    { progress in
      let metadata = progress.metadata.mapValues { Logger.MetadataValue.string($0) }
      switch progress.level {
      case .info: logger.info(Logger.Message(stringLiteral: progress.message), metadata: metadata)
      case .warning: logger.warning(Logger.Message(stringLiteral: progress.message), metadata: metadata)
      }
    }
  }

  /// `writeBack: true`: a rollback writes `modelops/rollback/<deployment>` in the source
  /// repository (a local path), or in the mirror and pushes it to the remote.
  static func writeBack(
    _ source: AgentConfig.Source, repository: GitRepository, credentials: GitCredentials
  ) -> WriteBackHook {
    let mirrored = repository.preferRemoteBranches
    let path = repository.path
    return { deployment, location, version, reason in
      // Through a handle of its own: a push to a remote that stalls holds only this one's lock.
      let handle = try GitRepository.open(path, mirror: mirrored)
      // Locations are repo-relative paths of the manifest files.
      return try WriteBack.pin(
        repository: handle, trackedBranch: source.branch, file: location.path, nameLine: location.line,
        deployment: deployment.metadata.name, model: deployment.spec.model.model, version: version, reason: reason,
        push: mirrored ? credentials : nil)
    }
  }

  /// `modelops_replicas{deployment,version,health}` and `modelops_rollout_weight{deployment}`.
  static func servingMetrics(_ store: StateStore) -> String {
    var counts: [String: Int] = [:]
    for replica in (try? store.replicas()) ?? [] {
      let labels =
        "deployment=\"\(replica.deployment)\",version=\"\(replica.revision.modelVersion)\","
        + "health=\"\(replica.health.rawValue)\""
      counts[labels, default: 0] += 1
    }
    var out = "# HELP modelops_replicas Serving replicas by deployment, model version and health.\n"
    out += "# TYPE modelops_replicas gauge\n"
    for (labels, count) in counts.sorted(by: { $0.key < $1.key }) { out += "modelops_replicas{\(labels)} \(count)\n" }
    out += "# HELP modelops_rollout_weight Percent of requests sent to the revision being rolled out.\n"
    out += "# TYPE modelops_rollout_weight gauge\n"
    for record in (try? store.deploymentRecords()) ?? [] {
      out +=
        "modelops_rollout_weight{deployment=\"\(record.name)\"} \(record.rollout == nil ? 0 : record.rolloutWeight)\n"
    }
    return out
  }

  /// The user steps and replicas run as (`runAs`: a user, so that they cannot read the agent's
  /// memory, environment or state); absent or `agent`: the agent's own user.
  static func runAs(_ configuration: AgentConfig?) throws -> RunAs? {
    let wanted = configuration?.runAs ?? "agent"
    guard wanted != "agent" else { return nil }
    guard let user = RunAs.named(wanted) else {
      throw CommandFailure("runAs: no user named '\(wanted)' on this host (or 'agent' for the agent's own user)")
    }
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
      throw CommandFailure("runAs \(wanted) needs /usr/bin/setpriv (util-linux), which is missing")
    }
    return user
  }

  /// `signing`'s signer and checker; a file that cannot be read, or a key that cannot sign, is a
  /// configuration error at start. `checkOnly` (`agent models --verify`): the private key is read
  /// only when there is no `allowedSigners` to check against.
  static func signer(_ configuration: AgentConfig?, checkOnly: Bool = false) throws -> VersionSigner? {
    guard let configuration, let signing = configuration.signing else { return nil }
    do {
      return try VersionSigner(
        key: checkOnly && signing.allowedSigners != nil ? nil : signing.key,
        allowedSigners: signing.allowedSigners, requireSigned: signing.requireSigned)
    } catch {
      throw CommandFailure("\(error)")
    }
  }

  /// Whether an address is only reachable from this host.
  static func isLoopback(_ host: String) -> Bool {
    host == "localhost" || host == "::1" || host.hasPrefix("127.")
  }

  /// `source.verify`'s checker; a missing or unreadable file is a configuration error at start.
  static func verifier(_ source: AgentConfig.Source) throws -> CommitVerifier? {
    guard source.allowedSigners != nil || source.gpgKeyring != nil else { return nil }
    do {
      return try CommitVerifier(allowedSigners: source.allowedSigners, gpgKeyring: source.gpgKeyring)
    } catch {
      throw CommandFailure("\(error)")
    }
  }

  /// The repository to read, and how a cycle refreshes it: a local path is read as it is; a
  /// remote is mirrored under the state folder and fetched every cycle.
  static func openSource(
    _ source: AgentConfig.Source, stateFolder: String, credentials: GitCredentials
  ) throws(GitError) -> (repository: GitRepository, fetch: @Sendable () throws -> GitRepository) {
    if !source.url.contains("://"), FileManager.default.fileExists(atPath: source.url) {
      let local = try GitRepository.open(source.url)
      return (local, { local })
    }
    // A mirror already there (a restart) is read at once and fetched by the source loop, so a
    // remote that does not answer delays nothing at start; only a first start clones.
    let folder = GitMirror.folder(for: source.url, under: stateFolder)
    let mirror =
      FileManager.default.fileExists(atPath: folder + "/HEAD")
      ? try GitRepository.open(folder, mirror: true)
      : try GitMirror.sync(url: source.url, into: folder, credentials: credentials)
    let url = source.url
    return (
      mirror,
      {
        // Fetched through a handle of its own: a fetch that hangs holds only that handle's lock,
        // never the one checkouts, status and rollouts read through.
        try GitMirror.fetch(try GitRepository.open(folder, mirror: true), url: url, credentials: credentials)
        return mirror
      }
    )
  }
}
