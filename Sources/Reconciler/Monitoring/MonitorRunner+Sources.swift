import Drivers
import Foundation
import ModelOpsCore
import StateStore

/// Where a monitor's values come from: a scrape of the deployment's replicas or the router's counts
/// (judged over the window per version), or a Prometheus query per version.
extension MonitorRunner {
  /// One scrape of every healthy replica, and the metric per served version over the window.
  func scrape(
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
    return evaluate(name, monitor, metric, fresh: fresh, replicas: replicas, served: served, every: every, now: now)
  }

  /// What the router counted for the deployment, as one point per served version (its counters
  /// run since the router process started, which outlives the agent: a rate needs two points).
  func routerPoints(_ name: String, _ monitor: Monitor, served: Set<Int>, now: Date) -> [ScrapePoint] {
    let samples: [MetricSample]
    do { samples = try PrometheusText.samples(routerMetrics()) } catch {
      say(name, "monitor \(name): the router's metrics do not parse: \(error)")
      return []
    }
    var byVersion: [Int: [MetricSample]] = [:]
    for sample in samples where sample.labels["deployment"] == monitor.spec.deployment {
      guard let version = sample.labels["version"].flatMap({ Int($0) }), served.contains(version) else { continue }
      switch sample.name {
      case "modelops_router_requests_total":
        byVersion[version, default: []].append(MetricSample(name: ScrapeEvaluation.routerAnswers, value: sample.value))
        if sample.labels["code"] == "5xx" {
          byVersion[version, default: []].append(MetricSample(name: ScrapeEvaluation.routerErrors, value: sample.value))
        }
      case ScrapeEvaluation.routerLatency + "_bucket":
        byVersion[version, default: []].append(sample)
      case "modelops_router_mirrored_total":
        // Compared pairs: those that agreed and those that did not (dropped ones were not compared).
        let result = sample.labels["result"]
        guard result == "agreed" || result == "disagreed" else { continue }
        byVersion[version, default: []].append(MetricSample(name: ScrapeEvaluation.routerCompared, value: sample.value))
        if result == "agreed" {
          byVersion[version, default: []].append(MetricSample(name: ScrapeEvaluation.routerAgreed, value: sample.value))
        }
      default: continue
      }
    }
    return byVersion.map { version, samples in
      // A version with answers but no 5xx still has an error count (zero), and one whose compared
      // answers all disagreed an agreed count.
      var all = samples
      for (name, basis) in [
        (ScrapeEvaluation.routerErrors, ScrapeEvaluation.routerAnswers),
        (ScrapeEvaluation.routerAgreed, ScrapeEvaluation.routerCompared),
      ] where all.contains(where: { $0.name == basis }) && !all.contains(where: { $0.name == name }) {
        all.append(MetricSample(name: name, value: 0))
      }
      return ScrapePoint(at: now, replica: "router", version: version, samples: all)
    }
  }

  /// Adds fresh points to the monitor's window and evaluates the metric per served version.
  func evaluate(
    _ name: String, _ monitor: Monitor, _ metric: Monitor.Metric, fresh: [ScrapePoint], replicas: [ReplicaRecord],
    served: Set<Int>, every: TimeInterval, now: Date
  ) -> [Int: Double?] {
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
  func baseline(_ name: String, deployment: String, version: Int, feature: String) -> DriftProfile.Feature? {
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
  func query(_ name: String, _ monitor: Monitor, _ template: String, version: Int) -> Double? {
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
}
