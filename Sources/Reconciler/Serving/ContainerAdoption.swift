import Drivers
import Foundation
import StateStore

/// Docker: finds containers by their labels. A recorded replica whose container id was never
/// saved (the agent stopped in between) gets it back; a container that no replica record names
/// is removed rather than left running outside the agent's routes.
struct ContainerAdoption: Sendable {
  let docker: DockerRuntime?
  let store: StateStore
  let logs: URL
  let progress: ProgressSink

  /// Docker: finds the deployment's containers by label (each cycle, before anything is planned).
  /// A recorded replica whose container id was never saved (the agent stopped in between) gets it
  /// back; a container no replica record names (its record was removed, or the state was reset)
  /// is removed rather than left running outside the agent's routes.
  func adoptContainers(of name: String) throws {
    guard let docker, let containers = try? docker.containers(of: name) else { return }
    let records = Dictionary(try store.replicas(of: name).map { ($0.id, $0) }) { a, _ in a }
    for container in containers {
      guard let id = container.labels[DockerRuntime.Label.replica], let record = records[id] else {
        progress("  removing container \(container.names.first ?? container.id) of \(name): no replica record names it")
        docker.stop(
          container: container.id, log: logs.appendingPathComponent("stray-\(container.id.prefix(12)).log").path)
        continue
      }
      if record.container == nil, record.pid == nil { try adopt(container.id, of: id) }
    }
  }

  /// Records a replica's container found by label; false when the replica is no longer recorded.
  @discardableResult
  private func adopt(_ container: String, of replica: String) throws -> Bool {
    guard try store.updateReplicaContainer(replica, container: container) else { return false }
    progress("  adopted container \(container.prefix(12)) of replica \(replica)")
    return true
  }

  /// Docker: a recorded replica without a container id gets its container back, found by label.
  /// nil when the engine did not answer: the replica cannot be judged now (it is not gone).
  func adoptByLabel(_ replica: ReplicaRecord) -> ReplicaRecord? {
    guard replica.container == nil, replica.pid == nil, let docker else { return replica }
    let found: [ContainerSummary]
    do { found = try docker.containers(ofReplica: replica.id) } catch { return nil }
    guard let container = found.first, (try? adopt(container.id, of: replica.id)) == true else { return replica }
    var adopted = replica
    adopted.container = container.id
    return adopted
  }
}
