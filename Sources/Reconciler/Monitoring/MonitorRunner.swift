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
  /// A monitor that fired rejects the version; one that had no data only fails the revision
  /// (the version was not shown bad: `agent retry` with traffic may pass it).
  var rejects = true
}

/// Evaluates monitors: scrapes each healthy replica of a `scrape` monitor's deployment at its
/// interval, or asks Prometheus a `prometheus` monitor's query, judges the value per model version
/// (over the window for scrapes) and fires when the threshold is broken for `for`; `alertmanager`
/// monitors fire and resolve as Alertmanager's webhook says. Whether a monitor fires, and on which
/// version, is `MonitorFiring`'s job (the store's record, which the planner reads to roll back or
/// retrain); a rollout's analysis reads it between its steps.
public final class MonitorRunner: Sendable {
  struct State {
    var points: [String: [ScrapePoint]] = [:]
    var scrapedAt: [String: Date] = [:]
    /// `monitor#version` → when the breach began.
    var breachSince: [String: Date] = [:]
    /// `monitor#version` → when the monitor last had a value for the version.
    var valuedAt: [String: Date] = [:]
    /// Baseline profiles read from the registry, by `model#version` (nil: the run wrote none).
    var profiles: [String: DriftProfile?] = [:]
    /// The last error said per monitor, so a failing source is logged once, not every tick.
    var lastError: [String: String] = [:]
  }

  let store: StateStore
  let registry: (any ModelRegistry)?
  let prometheusURL: String?
  let progress: ProgressSink
  /// The router's metrics in Prometheus' text format (`router` sources read them).
  let routerMetrics: @Sendable () -> String
  let declared = Mutex<[String: Monitor]>([:])
  /// Deployment → the model it serves (a drift monitor reads that model's profiles).
  let models = Mutex<[String: String]>([:])
  let state = Mutex(State())
  let firing: MonitorFiring

  public init(
    store: StateStore, registry: (any ModelRegistry)? = nil, prometheusURL: String? = nil, notifier: Notifier? = nil,
    routerMetrics: @escaping @Sendable () -> String = { "" }, progress: @escaping ProgressSink = { _ in }
  ) {
    self.routerMetrics = routerMetrics
    self.store = store
    self.registry = registry
    self.prometheusURL = prometheusURL
    self.progress = progress
    firing = MonitorFiring(store: store, notifier: notifier, progress: progress)
  }

  public func declare(_ monitors: [String: Monitor], deployments: [String: Deployment] = [:]) {
    declared.withLock { $0 = monitors }
    firing.forgetUndeclared(Set(monitors.keys), now: Date())
    models.withLock { $0 = deployments.mapValues(\.spec.model.model) }
  }

  /// Scrapes and queries what is due and evaluates it; true when a monitor started firing (run a cycle).
  @discardableResult
  public func tick(now: Date = Date()) -> Bool {
    var started = false
    for (name, monitor) in declared.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
      guard let threshold = monitor.spec.threshold else { continue }
      let every: TimeInterval
      switch monitor.spec.source {
      case .scrape(_, let interval), .prometheus(_, let interval), .router(let interval):
        every = interval.timeInterval
      case .alertmanager: continue
      }
      if let last = state.withLock({ $0.scrapedAt[name] }), now.timeIntervalSince(last) < every { continue }
      state.withLock { $0.scrapedAt[name] = now }
      let replicas = ((try? store.replicas(of: monitor.spec.deployment)) ?? []).filter { $0.health == .healthy }
      let served = Set(replicas.map(\.revision.modelVersion))
      let values: [Int: Double?]
      switch monitor.spec.source {
      case .scrape(let path, _):
        values = scrape(name, monitor, path: path, replicas: replicas, served: served, every: every, now: now)
      case .prometheus(let query, _):
        values = Dictionary(uniqueKeysWithValues: served.map { ($0, self.query(name, monitor, query, version: $0)) })
      case .router:
        let fresh = routerPoints(name, monitor, served: served, now: now)
        values =
          monitor.spec.metric.map {
            evaluate(name, monitor, $0, fresh: fresh, replicas: [], served: served, every: every, now: now)
          } ?? [:]
      case .alertmanager:
        values = [:]
      }
      for (version, value) in values.sorted(by: { $0.key < $1.key }) {
        if value != nil { state.withLock { $0.valuedAt["\(name)#\(version)"] = now } }
        if judge(name, monitor, version: version, value: value, threshold: threshold, now: now) { started = true }
      }
      // A version no longer served stops the monitor firing on it.
      if let version = firing.version(of: name), !served.contains(version) {
        resolve(name, version: version, now: now, why: "v\(version) no longer serves")
      }
    }
    return started
  }

  /// Logs a monitor's problem once until it changes.
  func say(_ name: String, _ line: String) {
    let fresh = state.withLock { state -> Bool in
      defer { state.lastError[name] = line }
      return state.lastError[name] != line
    }
    if fresh { progress(Progress(line, level: .warning, ["monitor": name])) }
  }

  /// Alerts from Alertmanager's webhook (payload version 4): a firing alert named like an
  /// `alertmanager` monitor's `alertname` fires it on the version in the alert's `version` label,
  /// else on the version being rolled out (or serving); a resolved one resolves it. Returns how
  /// many alerts matched a monitor and whether one started firing (run a cycle).
  public func receive(_ payload: AlertmanagerPayload, now: Date = Date()) -> (matched: Int, fired: Bool) {
    let monitors = declared.withLock { $0 }
    var matched = 0
    var fired = false
    for alert in payload.alerts {
      guard let alertname = alert.labels["alertname"] else { continue }
      for (name, monitor) in monitors.sorted(by: { $0.key < $1.key }) {
        guard case .alertmanager(let wanted) = monitor.spec.source, wanted == alertname else { continue }
        if let labelled = alert.labels["deployment"], labelled != monitor.spec.deployment { continue }
        matched += 1
        let record = try? store.deploymentRecord(monitor.spec.deployment)
        let labelled = alert.labels["version"].flatMap { Int($0.hasPrefix("v") ? String($0.dropFirst()) : $0) }
        guard let version = labelled ?? (record?.rollout ?? record?.active)?.modelVersion else {
          progress("monitor \(name): alert \(alertname) for \(monitor.spec.deployment), which serves nothing")
          continue
        }
        if alert.status == "resolved" {
          resolve(name, version: version, now: now, why: "Alertmanager resolved \(alertname)")
          continue
        }
        let summary = alert.annotations["summary"] ?? alert.annotations["description"] ?? "alert \(alertname) firing"
        if firing.fire(name, monitor, version: version, message: "\(summary) (Alertmanager, v\(version))", now: now) {
          fired = true
        }
      }
    }
    return (matched, fired)
  }

  /// Tracks a breach; fires after `for`, resolves when the value is back within the threshold.
  private func judge(
    _ name: String, _ monitor: Monitor, version: Int, value: Double?, threshold: Monitor.Threshold, now: Date
  ) -> Bool {
    let key = "\(name)#\(version)"
    guard let value, threshold.isBreached(by: value) else {
      state.withLock { _ = $0.breachSince.removeValue(forKey: key) }
      if value != nil, firing.version(of: name) == version {
        resolve(name, version: version, now: now, why: "back within the threshold")
      }
      return false
    }
    let held = state.withLock { state -> Bool in
      let since = state.breachSince[key] ?? now
      state.breachSince[key] = since
      return now.timeIntervalSince(since) >= monitor.spec.forDuration.timeInterval
    }
    guard held, firing.version(of: name) == nil else { return false }
    return firing.fire(
      name, monitor, version: version,
      message: "\(Self.format(value)) breaks \(Self.describe(threshold)) on v\(version)",
      now: now)
  }

  /// Ends a firing on `version` and the breach that led to it.
  func resolve(_ name: String, version: Int, now: Date, why: String) {
    state.withLock { _ = $0.breachSince.removeValue(forKey: "\(name)#\(version)") }
    firing.resolve(name, version: version, now: now, why: why)
  }

  static func format(_ value: Double) -> String { String(format: "%.4g", value) }

  static func describe(_ threshold: Monitor.Threshold) -> String {
    [threshold.min.map { "min \(format($0))" }, threshold.max.map { "max \(format($0))" }].compactMap { $0 }
      .joined(separator: ", ")
  }
}
