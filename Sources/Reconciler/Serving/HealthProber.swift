import Drivers
import Foundation
import ModelOpsCore
import StateStore
import Synchronization

/// What one round of health probes changed.
public struct ProbeOutcome: Sendable {
  /// A replica turned healthy (a rollout or heal waiting for it can go on).
  public var ready = false
  /// A replica left service (exited, unhealthy): replace it or roll back.
  public var lost = false

  /// Whether the loop should run a cycle now.
  public var changed: Bool { ready || lost }
}

/// Probes every recorded replica's health: the only prober (the supervisor calls it between
/// passes). A starting replica is probed each time; a serving one at its deployment's
/// `health.interval`. What it finds is recorded in the store, and the routes follow.
final class HealthProber: Sendable {
  let store: StateStore
  let replicas: ReplicaLifecycle
  let adoption: ContainerAdoption
  let routing: RoutingTable
  let progress: ProgressSink
  /// When each replica was last probed.
  private let probedAt = Mutex<[String: Date]>([:])

  init(
    store: StateStore, replicas: ReplicaLifecycle, adoption: ContainerAdoption, routing: RoutingTable,
    progress: @escaping ProgressSink
  ) {
    self.store = store
    self.replicas = replicas
    self.adoption = adoption
    self.routing = routing
    self.progress = progress
  }

  /// Checks every recorded replica once — the supervisor is the only prober of replica health. A
  /// starting replica is probed each time (healthy joins the routes; past its startup timeout it
  /// turns unhealthy); a dead process is marked exited; a serving one is probed when its interval
  /// has passed (all of them when `all`) and turns unhealthy after `failureThreshold` failures in
  /// a row.
  @discardableResult
  func probe(all: Bool = false, now: Date = Date()) -> ProbeOutcome {
    // Not before the first desired state is declared (its containers adopted by label first).
    guard routing.isDeclared else { return ProbeOutcome() }
    let deployments = routing.deployments
    guard let recorded = try? store.replicas() else { return ProbeOutcome() }
    // Replicas stopped since the last round are forgotten.
    let ids = Set(recorded.map(\.id))
    probedAt.withLock { $0 = $0.filter { ids.contains($0.key) } }
    // Before judging a replica by its handle, one without (docker: the id never saved) is looked
    // up by label, unless it was recorded a moment ago (the executor is starting it right now).
    let judged = recorded.compactMap {
      $0.rayApp == nil && replicas.handle($0) == nil && now.timeIntervalSince($0.startedAt) > 5
        ? adoption.adoptByLabel($0) : $0
    }
    // Serve applications are judged by what the cluster says, read once for the round.
    if judged.contains(where: { $0.rayApp != nil }) { replicas.rayApps?.refresh() }
    var outcome = ProbeOutcome()
    for replica in judged {
      let health = deployments[replica.deployment]?.spec.health ?? Deployment.Health()
      let next =
        if let app = replica.rayApp {
          probeApplication(replica, app, health, now: now, all: all)
        } else if replica.health == .starting {
          probeStarting(replica, health, now: now)
        } else {
          probeServing(replica, health, now: now, all: all)
        }
      guard let next, next.health != replica.health || next.failures != replica.failures else { continue }
      guard (try? store.updateReplicaHealth(replica.id, health: next.health, failures: next.failures)) == true
      else { continue }
      guard next.health != replica.health else { continue }
      if next.health == .healthy {
        outcome.ready = true
      } else {
        outcome.lost = true
        progress(
          Progress(
            "replica \(replica.id) of \(replica.deployment) is \(next.health.rawValue)",
            level: next.health == .healthy ? .info : .warning,
            ["deployment": replica.deployment, "revision": "\(replica.revision)", "replica": replica.id]))
      }
    }
    if outcome.changed { routing.publish() }
    return outcome
  }

  /// A Serve application: healthy while Serve says `RUNNING`; a failed deployment is final for a
  /// starting one (Ray's message says why), counts as a failed probe for a serving one; gone or
  /// deployed again by someone else is drift. Nothing changes while the cluster does not answer.
  private func probeApplication(
    _ replica: ReplicaRecord, _ app: String, _ health: Deployment.Health, now: Date, all: Bool
  ) -> ReplicaRecord? {
    if replica.health != .starting, !all, let last = probedAt.withLock({ $0[replica.id] }),
      now.timeIntervalSince(last) < health.interval.timeInterval
    {
      return nil
    }
    guard let observed = replicas.rayApps?.health(of: replica, app: app) else { return nil }
    probedAt.withLock { $0[replica.id] = now }
    var next = replica
    switch observed {
    case .healthy:
      next.health = .healthy
      next.failures = 0
    case .starting:
      // Still deploying (or deploying again, for a serving one: Serve keeps the old replicas up).
      guard replica.health == .starting else { return nil }
      // Counted from the deploy written to Serve (shipping the code and queueing come before).
      let since = replicas.rayApps?.deployed(app) ?? replica.startedAt
      if now.timeIntervalSince(since) > health.startupTimeout.timeInterval { next.health = .unhealthy }
    case .unhealthy where replica.health != .starting:
      next.failures += 1
      if next.failures >= health.failureThreshold { next.health = .unhealthy }
    case .unhealthy, .exited, .altered:
      next.health = observed
    }
    return next
  }

  /// A starting replica: healthy once it answers; exited if its process is gone (or it was never
  /// started: an agent killed between recording and starting it); unhealthy past its startup timeout.
  private func probeStarting(_ replica: ReplicaRecord, _ health: Deployment.Health, now: Date) -> ReplicaRecord? {
    var next = replica
    let started = replicas.handle(replica) != nil
    let age = now.timeIntervalSince(replica.startedAt)
    if (started && !replicas.isAlive(replica)) || (!started && age > 120) {
      next.health = .exited
    } else if !started {
      return nil
    } else if let port = replica.port,
      HealthProbe.check(port: port, path: health.path, timeout: health.timeout.timeInterval)
    {
      next.health = .healthy
      next.failures = 0
      probedAt.withLock { $0[replica.id] = now }
    } else if age > health.startupTimeout.timeInterval {
      next.health = .unhealthy
    }
    return next
  }

  /// A replica past its start: probed at its deployment's interval.
  private func probeServing(_ replica: ReplicaRecord, _ health: Deployment.Health, now: Date, all: Bool)
    -> ReplicaRecord?
  {
    if !all, let last = probedAt.withLock({ $0[replica.id] }),
      now.timeIntervalSince(last) < health.interval.timeInterval
    {
      return nil
    }
    probedAt.withLock { $0[replica.id] = now }
    var next = replica
    if !replicas.isAlive(replica) {
      next.health = .exited
    } else if let port = replica.port,
      HealthProbe.check(port: port, path: health.path, timeout: health.timeout.timeInterval)
    {
      next.health = .healthy
      next.failures = 0
    } else {
      next.failures += 1
      if next.failures >= health.failureThreshold { next.health = .unhealthy }
    }
    return next
  }
}
