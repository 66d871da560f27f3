import Drivers
import Foundation
import ModelOpsCore
import StateStore
import Synchronization

/// A monitor's analysis failed on the version being rolled out: the rollout rolls back and the
/// version is rejected (no policy picks it again).
struct AnalysisFailed: Error, CustomStringConvertible {
  var monitor: String
  var version: Int
  var description: String
}

/// Evaluates `scrape` monitors: scrapes each healthy replica of the monitor's deployment at the
/// monitor's interval, judges the metric per model version over the window, and fires when the
/// threshold is broken for `for`. Firing is recorded in the state store with the version judged
/// (the planner rolls back on it), and read directly by a rollout's analysis between its steps.
public final class MonitorRunner: Sendable {
  struct State {
    var points: [String: [ScrapePoint]] = [:]
    var scrapedAt: [String: Date] = [:]
    /// `monitor#version` → when the breach began.
    var breachSince: [String: Date] = [:]
    /// monitor → the version it fires on.
    var firing: [String: Int] = [:]
  }

  let store: StateStore
  let progress: @Sendable (String) -> Void
  let declared = Mutex<[String: Monitor]>([:])
  let state = Mutex(State())

  public init(store: StateStore, progress: @escaping @Sendable (String) -> Void = { _ in }) {
    self.store = store
    self.progress = progress
  }

  public func declare(_ monitors: [String: Monitor]) { declared.withLock { $0 = monitors } }

  /// Scrapes what is due and evaluates it; true when a monitor started firing (run a cycle).
  @discardableResult
  public func tick(now: Date = Date()) -> Bool {
    var started = false
    for (name, monitor) in declared.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
      guard case .scrape(let path, let interval) = monitor.spec.source, let metric = monitor.spec.metric,
        let threshold = monitor.spec.threshold
      else { continue }
      let every = interval.timeInterval
      if let last = state.withLock({ $0.scrapedAt[name] }), now.timeIntervalSince(last) < every { continue }
      let replicas = ((try? store.replicas(of: monitor.spec.deployment)) ?? []).filter { $0.health == .healthy }
      var fresh: [ScrapePoint] = []
      for replica in replicas {
        guard let port = replica.port,
          let response = try? HTTPClient.get("http://127.0.0.1:\(port)\(path)", timeout: 1),
          response.status == 200, response.body.count <= PrometheusText.maxBytes,
          let samples = try? PrometheusText.samples(String(decoding: response.body, as: UTF8.self))
        else { continue }
        fresh.append(
          ScrapePoint(at: now, replica: replica.id, version: replica.revision.modelVersion, samples: samples))
      }
      let served = Set(replicas.map(\.revision.modelVersion))
      let window = monitor.spec.window?.timeInterval ?? 60
      let points = state.withLock { state -> [ScrapePoint] in
        state.scrapedAt[name] = now
        state.points[name] = ((state.points[name] ?? []) + fresh).filter {
          served.contains($0.version) && $0.at > now.addingTimeInterval(-(window + every))
        }
        return state.points[name] ?? []
      }
      for version in served.sorted() {
        let value = ScrapeEvaluation.value(of: metric, version: version, points: points, window: window, now: now)
        if judge(name, monitor, version: version, value: value, threshold: threshold, now: now) { started = true }
      }
      // A version no longer served stops the monitor firing on it.
      if let version = state.withLock({ $0.firing[name] }), !served.contains(version) {
        resolve(name, version: version, now: now, why: "v\(version) no longer serves")
      }
    }
    return started
  }

  /// Tracks a breach; fires after `for`, resolves when the value is back within the threshold.
  private func judge(
    _ name: String, _ monitor: Monitor, version: Int, value: Double?, threshold: Monitor.Threshold, now: Date
  ) -> Bool {
    let key = "\(name)#\(version)"
    guard let value, threshold.isBreached(by: value) else {
      state.withLock { _ = $0.breachSince.removeValue(forKey: key) }
      if value != nil, state.withLock({ $0.firing[name] }) == version {
        resolve(name, version: version, now: now, why: "back within the threshold")
      }
      return false
    }
    let fires = state.withLock { state -> Bool in
      let since = state.breachSince[key] ?? now
      state.breachSince[key] = since
      guard now.timeIntervalSince(since) >= monitor.spec.forDuration.timeInterval, state.firing[name] == nil else {
        return false
      }
      state.firing[name] = version
      return true
    }
    guard fires else { return false }
    let message = "\(Self.format(value)) breaks \(Self.describe(threshold)) on v\(version)"
    progress("monitor \(name) fired: \(message)")
    try? store.recordMonitor(name, firing: true, version: version, at: now)
    try? store.appendEvent(
      kind: "monitor-fired", resource: ResourceID(.monitor, name), commit: nil,
      cause: "deployment \(monitor.spec.deployment), held for \(monitor.spec.forDuration)", message: message, at: now)
    return true
  }

  private func resolve(_ name: String, version: Int, now: Date, why: String) {
    state.withLock { state in
      state.firing.removeValue(forKey: name)
      state.breachSince.removeValue(forKey: "\(name)#\(version)")
    }
    try? store.recordMonitor(name, firing: false, version: version, at: now)
    try? store.appendEvent(
      kind: "monitor-resolved", resource: ResourceID(.monitor, name), commit: nil, cause: why,
      message: "no longer firing on v\(version)", at: now)
  }

  /// Why the analysis of `version` fails now: one of `monitors` fires on it.
  func analysisFailure(monitors: [String], version: Int) -> AnalysisFailed? {
    let firing = state.withLock { $0.firing }
    guard let monitor = monitors.sorted().first(where: { firing[$0] == version }) else { return nil }
    return AnalysisFailed(
      monitor: monitor, version: version, description: "analysis failed: monitor '\(monitor)' fired on v\(version)")
  }

  /// After traffic left `version` of a deployment: its monitors stop firing on it, its points go.
  func forget(deployment: String, version: Int) {
    let names = declared.withLock { $0.values.filter { $0.spec.deployment == deployment }.map(\.metadata.name) }
    for name in names {
      state.withLock { state in
        state.points[name]?.removeAll { $0.version == version }
        state.breachSince.removeValue(forKey: "\(name)#\(version)")
      }
      if state.withLock({ $0.firing[name] }) == version {
        resolve(name, version: version, now: Date(), why: "rolled back from v\(version)")
      }
    }
  }

  static func format(_ value: Double) -> String { String(format: "%.4g", value) }

  static func describe(_ threshold: Monitor.Threshold) -> String {
    [threshold.min.map { "min \(format($0))" }, threshold.max.map { "max \(format($0))" }].compactMap { $0 }
      .joined(separator: ", ")
  }
}
