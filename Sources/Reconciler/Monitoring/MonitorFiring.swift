import Drivers
import Foundation
import ModelOpsCore
import StateStore
import Synchronization

/// Which monitors fire, and on which model version. The store's record is the truth (the planner
/// reads it, and it outlives the agent): this type writes it with the event and notification of
/// each change, and keeps a copy in memory for the analysis of a rollout step, which reads it on
/// every step. A restarted agent starts from the store, so a breach that lasts through a restart
/// is one firing (one retrain), not two.
final class MonitorFiring: Sendable {
  let store: StateStore
  let notifier: Notifier?
  let progress: ProgressSink
  /// monitor → the version it fires on.
  private let firing: Mutex<[String: Int]>

  init(store: StateStore, notifier: Notifier?, progress: @escaping ProgressSink) {
    self.store = store
    self.notifier = notifier
    self.progress = progress
    firing = Mutex((try? store.firingMonitors()) ?? [:])
  }

  /// The version `monitor` fires on, if it fires.
  func version(of monitor: String) -> Int? { firing.withLock { $0[monitor] } }

  /// Every firing monitor and its version.
  var all: [String: Int] { firing.withLock { $0 } }

  /// Marks the monitor firing on `version` unless it already fires; true when it started now.
  /// Records the event, and notifies when the monitor has the `notify` action.
  func fire(_ name: String, _ monitor: Monitor, version: Int, message: String, now: Date) -> Bool {
    let first = firing.withLock { firing -> Bool in
      guard firing[name] == nil else { return false }
      firing[name] = version
      return true
    }
    guard first else { return false }
    // Recorded before it is said: a log line means the firing outlives a kill of the agent.
    try? store.recordMonitor(name, firing: true, version: version, at: now)
    try? store.appendEvent(
      kind: "monitor-fired", resource: ResourceID(.monitor, name), commit: nil,
      cause: "deployment \(monitor.spec.deployment), held for \(monitor.spec.forDuration)", message: message, at: now)
    progress(
      Progress("monitor \(name) fired: \(message)", level: .warning, ["monitor": name, "version": "\(version)"]))
    if monitor.spec.actions.contains(.notify) {
      notifier?.send(
        Notification(
          event: "monitor-fired", resource: ResourceID(.monitor, name).description, to: "v\(version)",
          reason: message, at: now))
    }
    return true
  }

  /// Ends the monitor's firing on `version` (nothing when it fires on another or not at all).
  func resolve(_ name: String, version: Int, now: Date, why: String) {
    let was = firing.withLock { firing -> Bool in
      guard firing[name] == version else { return false }
      firing.removeValue(forKey: name)
      return true
    }
    guard was else { return }
    try? store.recordMonitor(name, firing: false, version: version, at: now)
    try? store.appendEvent(
      kind: "monitor-resolved", resource: ResourceID(.monitor, name), commit: nil, cause: why,
      message: "no longer firing on v\(version)", at: now)
  }

  /// Ends the firing of monitors that are no longer declared (deleted from the repository while
  /// they fired, possibly while the agent was down).
  func forgetUndeclared(_ declared: Set<String>, now: Date) {
    for (name, version) in all where !declared.contains(name) {
      resolve(name, version: version, now: now, why: "the monitor is no longer declared")
    }
  }
}
