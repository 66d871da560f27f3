import Foundation
import ModelOpsCore

/// What a rollout's analysis asks of the monitors between its steps: does one fire on the new
/// version, did each have data for it, how long they need to judge it.
extension MonitorRunner {
  /// Why the analysis of `version` fails now: one of `monitors` fires on it.
  func analysisFailure(monitors: [String], version: Int) -> AnalysisFailed? {
    let firing = firing.all
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

  /// The longest any of `monitors` needs to produce a first value: two scrapes (or router reads)
  /// for a rate, one
  /// query interval for Prometheus, nothing for alerts.
  func judgingTime(_ monitors: [String]) -> TimeInterval {
    let declared = declared.withLock { $0 }
    return monitors.compactMap { declared[$0] }.map { monitor -> TimeInterval in
      switch monitor.spec.source {
      case .scrape(_, let interval), .router(let interval): return 2 * interval.timeInterval + 1
      case .prometheus(_, let interval): return interval.timeInterval + 1
      case .alertmanager: return 0
      }
    }.max() ?? 0
  }

  /// What the router counted of the answers of `version` to requests mirrored to it since the
  /// router started: the share that agreed with the stable answers, and how many were compared
  /// (nil: none yet).
  func mirrorAgreement(deployment: String, version: Int) -> (ratio: Double, compared: Int)? {
    guard let samples = try? PrometheusText.samples(routerMetrics()) else { return nil }
    var agreed = 0.0
    var compared = 0.0
    for sample in samples
    where sample.name == "modelops_router_mirrored_total" && sample.labels["deployment"] == deployment
      && sample.labels["version"] == String(version)
    {
      switch sample.labels["result"] {
      case "agreed":
        agreed += sample.value
        compared += sample.value
      case "disagreed": compared += sample.value
      default: continue
      }
    }
    return compared > 0 ? (agreed / compared, Int(compared)) : nil
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
      firing.resolve(name, version: version, now: Date(), why: "rolled back from v\(version)")
    }
  }
}
