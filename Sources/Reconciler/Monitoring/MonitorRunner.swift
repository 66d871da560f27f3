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
/// monitors fire and resolve as Alertmanager's webhook says. Firing is recorded in the state store
/// with the version judged (the planner rolls back or retrains on it), and read directly by a
/// rollout's analysis between its steps.
public final class MonitorRunner: Sendable {
  struct State {
    var points: [String: [ScrapePoint]] = [:]
    var scrapedAt: [String: Date] = [:]
    /// `monitor#version` → when the breach began.
    var breachSince: [String: Date] = [:]
    /// monitor → the version it fires on.
    var firing: [String: Int] = [:]
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
  let notifier: Notifier?
  let progress: @Sendable (String) -> Void
  let declared = Mutex<[String: Monitor]>([:])
  /// Deployment → the model it serves (a drift monitor reads that model's profiles).
  let models = Mutex<[String: String]>([:])
  let state = Mutex(State())

  public init(
    store: StateStore, registry: (any ModelRegistry)? = nil, prometheusURL: String? = nil, notifier: Notifier? = nil,
    progress: @escaping @Sendable (String) -> Void = { _ in }
  ) {
    self.store = store
    self.registry = registry
    self.prometheusURL = prometheusURL
    self.notifier = notifier
    self.progress = progress
  }

  public func declare(_ monitors: [String: Monitor], deployments: [String: Deployment] = [:]) {
    declared.withLock { $0 = monitors }
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
      case .scrape(_, let interval), .prometheus(_, let interval): every = interval.timeInterval
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
      case .alertmanager:
        values = [:]
      }
      for (version, value) in values.sorted(by: { $0.key < $1.key }) {
        if value != nil { state.withLock { $0.valuedAt["\(name)#\(version)"] = now } }
        if judge(name, monitor, version: version, value: value, threshold: threshold, now: now) { started = true }
      }
      // A version no longer served stops the monitor firing on it.
      if let version = state.withLock({ $0.firing[name] }), !served.contains(version) {
        resolve(name, version: version, now: now, why: "v\(version) no longer serves")
      }
    }
    return started
  }

  /// One scrape of every healthy replica, and the metric per served version over the window.
  private func scrape(
    _ name: String, _ monitor: Monitor, path: String, replicas: [ReplicaRecord], served: Set<Int>,
    every: TimeInterval, now: Date
  ) -> [Int: Double?] {
    guard let metric = monitor.spec.metric else { return [:] }
    var fresh: [ScrapePoint] = []
    for replica in replicas {
      guard let port = replica.port,
        let response = try? HTTPClient.get("http://127.0.0.1:\(port)\(path)", timeout: 1),
        response.status == 200, response.body.count <= PrometheusText.maxBytes
      else { continue }
      do {
        let samples = try PrometheusText.samples(String(decoding: response.body, as: UTF8.self))
        fresh.append(
          ScrapePoint(at: now, replica: replica.id, version: replica.revision.modelVersion, samples: samples))
      } catch {
        say(name, "monitor \(name): replica \(replica.id) exposes invalid metrics on \(path): \(error)")
      }
    }
    let window = monitor.spec.window?.timeInterval ?? 60
    let started = Dictionary(uniqueKeysWithValues: replicas.map { ($0.id, $0.startedAt) })
    let points = state.withLock { state -> [ScrapePoint] in
      // A replica's counters start at zero with its process: its first scrape is already an
      // increase since it started, so a rate needs one scrape, not two.
      let known = Set((state.points[name] ?? []).map(\.replica))
      let origins = fresh.compactMap { point -> ScrapePoint? in
        guard !known.contains(point.replica), let start = started[point.replica], start < point.at else { return nil }
        var origin = point
        origin.at = start
        origin.samples = point.samples.map { MetricSample(name: $0.name, labels: $0.labels, value: 0) }
        return origin
      }
      state.points[name] = ((state.points[name] ?? []) + origins + fresh).filter {
        served.contains($0.version) && $0.at > now.addingTimeInterval(-(window + every))
      }
      return state.points[name] ?? []
    }
    var values: [Int: Double?] = [:]
    for version in served {
      var baseline: DriftProfile.Feature?
      if case .drift(let feature, _) = metric {
        baseline = self.baseline(name, deployment: monitor.spec.deployment, version: version, feature: feature)
      }
      values[version] = ScrapeEvaluation.value(
        of: metric, version: version, points: points, window: window, now: now, baseline: baseline)
    }
    return values
  }

  /// The feature's histogram in the profile of the version's run, read once per version.
  private func baseline(_ name: String, deployment: String, version: Int, feature: String) -> DriftProfile.Feature? {
    guard let registry, let model = models.withLock({ $0[deployment] }) else { return nil }
    let key = "\(model)#\(version)"
    let profile: DriftProfile?
    if let cached = state.withLock({ $0.profiles[key] }) {
      profile = cached
    } else {
      do {
        profile = try registry.profile(model: model, version: version).map(DriftProfile.decode)
      } catch {
        say(name, "monitor \(name): \(model) v\(version): \(error)")
        profile = nil
      }
      state.withLock { $0.profiles[key] = .some(profile) }
    }
    guard let profile else {
      say(name, "monitor \(name): \(model) v\(version) has no profile.json: drift cannot be judged")
      return nil
    }
    guard let found = profile.features[feature] else {
      say(name, "monitor \(name): the profile of \(model) v\(version) has no feature '\(feature)'")
      return nil
    }
    return found
  }

  /// The query's value for one version through Prometheus' HTTP API (`/api/v1/query`); nil when
  /// the result is empty or the query fails (said once).
  private func query(_ name: String, _ monitor: Monitor, _ template: String, version: Int) -> Double? {
    guard let base = prometheusURL else {
      say(name, "monitor \(name): a prometheus source needs `prometheus.url` in the agent configuration")
      return nil
    }
    let promQL = template.replacingOccurrences(of: "$version", with: "\(version)")
      .replacingOccurrences(of: "$deployment", with: monitor.spec.deployment)
    var components = URLComponents(string: base.hasSuffix("/") ? base + "api/v1/query" : base + "/api/v1/query")
    components?.queryItems = [URLQueryItem(name: "query", value: promQL)]
    guard let url = components?.url?.absoluteString else {
      say(name, "monitor \(name): prometheus.url '\(base)' is not a URL")
      return nil
    }
    do {
      let response = try HTTPClient.get(url, timeout: 2)
      let values = try PrometheusQuery.values(response.body, status: response.status)
      guard !values.isEmpty else { return nil }
      // Several series: the worst one counts.
      return monitor.spec.threshold?.max != nil ? values.max() : values.min()
    } catch {
      say(name, "monitor \(name): Prometheus query failed: \(error)")
      return nil
    }
  }

  /// Logs a monitor's problem once until it changes.
  private func say(_ name: String, _ line: String) {
    let fresh = state.withLock { state -> Bool in
      defer { state.lastError[name] = line }
      return state.lastError[name] != line
    }
    if fresh { progress(line) }
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
          if state.withLock({ $0.firing[name] }) == version {
            resolve(name, version: version, now: now, why: "Alertmanager resolved \(alertname)")
          }
          continue
        }
        let summary = alert.annotations["summary"] ?? alert.annotations["description"] ?? "alert \(alertname) firing"
        if fire(name, monitor, version: version, message: "\(summary) (Alertmanager, v\(version))", now: now) {
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
      if value != nil, state.withLock({ $0.firing[name] }) == version {
        resolve(name, version: version, now: now, why: "back within the threshold")
      }
      return false
    }
    let fires = state.withLock { state -> Bool in
      let since = state.breachSince[key] ?? now
      state.breachSince[key] = since
      return now.timeIntervalSince(since) >= monitor.spec.forDuration.timeInterval && state.firing[name] == nil
    }
    guard fires else { return false }
    return fire(
      name, monitor, version: version,
      message: "\(Self.format(value)) breaks \(Self.describe(threshold)) on v\(version)",
      now: now)
  }

  /// Marks the monitor firing on `version` (unless it already fires), with an event and a
  /// notification when the monitor has the `notify` action.
  private func fire(_ name: String, _ monitor: Monitor, version: Int, message: String, now: Date) -> Bool {
    let first = state.withLock { state -> Bool in
      guard state.firing[name] == nil else { return false }
      state.firing[name] = version
      return true
    }
    guard first else { return false }
    progress("monitor \(name) fired: \(message)")
    try? store.recordMonitor(name, firing: true, version: version, at: now)
    try? store.appendEvent(
      kind: "monitor-fired", resource: ResourceID(.monitor, name), commit: nil,
      cause: "deployment \(monitor.spec.deployment), held for \(monitor.spec.forDuration)", message: message, at: now)
    if monitor.spec.actions.contains(.notify) {
      notifier?.send(
        Notification(
          event: "monitor-fired", resource: ResourceID(.monitor, name).description, to: "v\(version)",
          reason: message, at: now))
    }
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

  /// Why the analysis of `version` fails for want of data: a listed monitor that judges values
  /// (not an alert) had none for it since `since` — a canary without traffic must not pass.
  func missingData(monitors: [String], version: Int, since: Date) -> AnalysisFailed? {
    let declared = declared.withLock { $0 }
    for name in monitors.sorted() {
      guard let monitor = declared[name] else { continue }
      if case .alertmanager = monitor.spec.source { continue }
      let last = state.withLock { $0.valuedAt["\(name)#\(version)"] }
      if let last, last >= since { continue }
      return AnalysisFailed(
        monitor: name, version: version,
        description: "analysis failed: monitor '\(name)' had no data for v\(version) during the step "
          + "(no traffic reached it, or its metrics are missing)", rejects: false)
    }
    return nil
  }

  /// The longest any of `monitors` needs to produce a first value: two scrapes for a rate, one
  /// query interval for Prometheus, nothing for alerts.
  func judgingTime(_ monitors: [String]) -> TimeInterval {
    let declared = declared.withLock { $0 }
    return monitors.compactMap { declared[$0] }.map { monitor -> TimeInterval in
      switch monitor.spec.source {
      case .scrape(_, let interval): return 2 * interval.timeInterval + 1
      case .prometheus(_, let interval): return interval.timeInterval + 1
      case .alertmanager: return 0
      }
    }.max() ?? 0
  }

  /// After traffic left `version` of a deployment: its monitors stop firing on it, its points go.
  func forget(deployment: String, version: Int) {
    let names = declared.withLock { $0.values.filter { $0.spec.deployment == deployment }.map(\.metadata.name) }
    for name in names {
      state.withLock { state in
        state.points[name]?.removeAll { $0.version == version }
        state.breachSince.removeValue(forKey: "\(name)#\(version)")
        state.valuedAt.removeValue(forKey: "\(name)#\(version)")
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
