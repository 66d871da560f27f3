import Foundation

/// One scrape of one replica: when, which model version it serves, and what it exposed.
public struct ScrapePoint: Sendable, Hashable {
  public var at: Date
  public var replica: String
  public var version: Int
  public var samples: [MetricSample]

  public init(at: Date, replica: String, version: Int, samples: [MetricSample]) {
    self.at = at
    self.replica = replica
    self.version = version
    self.samples = samples
  }

  /// The sum of every series of `name` this replica exposed (one per label set).
  func total(_ name: String, where match: (MetricSample) -> Bool = { _ in true }) -> Double? {
    let values = samples.filter { $0.name == name && match($0) }.map(\.value)
    return values.isEmpty ? nil : values.reduce(0, +)
  }
}

/// A monitor's metric computed from scrapes of a deployment's replicas, per model version (so a
/// canary is judged on its own traffic), over the monitor's window. nil: no data to judge.
public enum ScrapeEvaluation {
  /// The name of the live feature histogram a `drift` metric reads from each replica.
  public static let featureHistogram = "modelops_feature_value"
  /// What a `router` source's points hold per version: every answer, the 5xx ones, and the
  /// latency histogram (`…_bucket{le}`), as the router counts them.
  public static let routerAnswers = "modelops_router_answers_total"
  public static let routerErrors = "modelops_router_errors_total"
  public static let routerLatency = "modelops_router_request_duration_seconds"
  /// Mirrored answers compared with the stable version's, and those that agreed.
  public static let routerCompared = "modelops_router_compared_total"
  public static let routerAgreed = "modelops_router_agreed_total"

  /// - Parameter baseline: for `drift`, the feature's histogram in the version's profile.
  public static func value(
    of metric: Monitor.Metric, version: Int, points: [ScrapePoint], window: TimeInterval, now: Date,
    baseline: DriftProfile.Feature? = nil
  ) -> Double? {
    let recent = points.filter { $0.version == version && $0.at > now.addingTimeInterval(-window) && $0.at <= now }
    let byReplica = Dictionary(grouping: recent, by: \.replica).mapValues { $0.sorted { $0.at < $1.at } }
    switch metric {
    case .ratio(let numerator, let denominator):
      guard let below = rate(denominator, byReplica), below > 0 else { return nil }
      return (rate(numerator, byReplica) ?? 0) / below
    case .gauge(let name):
      let latest = byReplica.values.compactMap { $0.last?.total(name) }
      return latest.isEmpty ? nil : latest.reduce(0, +) / Double(latest.count)
    case .quantile(let histogram, let q):
      return quantile(q, of: histogram, byReplica)
    case .errorRate:
      guard let below = rate(routerAnswers, byReplica), below > 0 else { return nil }
      return (rate(routerErrors, byReplica) ?? 0) / below
    case .latency(let q):
      return quantile(q, of: routerLatency, byReplica)
    case .agreement:
      guard let compared = rate(routerCompared, byReplica), compared > 0 else { return nil }
      return (rate(routerAgreed, byReplica) ?? 0) / compared
    case .drift(let feature, let method):
      guard let baseline, let live = liveHistogram(feature, edges: baseline.edges, byReplica),
        live.reduce(0, +) >= Drift.minimumObservations
      else { return nil }
      switch method {
      case .psi: return Drift.psi(live: live, baseline: baseline.counts)
      case .ks: return Drift.ks(live: live, baseline: baseline.counts)?.pValue
      }
    }
  }

  /// The feature's live values per bucket (not cumulative) over the window: the increase of
  /// `modelops_feature_value_bucket{feature=…,le=…}` at each of the baseline's edges and +Inf,
  /// summed over replicas. nil when nothing was observed or a replica lacks one of the edges.
  static func liveHistogram(_ feature: String, edges: [Double], _ byReplica: [String: [ScrapePoint]]) -> [Double]? {
    let bounds = edges + [.infinity]
    var cumulative = [Double](repeating: 0, count: bounds.count)
    for series in byReplica.values {
      for (index, bound) in bounds.enumerated() {
        let grew = increase(featureHistogram + "_bucket", series) {
          $0.labels["feature"] == feature && $0.labels["le"].flatMap { PrometheusText.number(Substring($0)) } == bound
        }
        guard let grew else { return nil }
        cumulative[index] += grew
      }
    }
    guard let total = cumulative.last, total > 0 else { return nil }
    return cumulative.enumerated().map { index, value in index == 0 ? value : max(0, value - cumulative[index - 1]) }
  }

  /// Per-second increase of a counter summed over replicas, each from its first to its last scrape
  /// in the window (a counter reset counts from zero). nil without two scrapes of any replica.
  static func rate(_ name: String, _ byReplica: [String: [ScrapePoint]]) -> Double? {
    var total: Double?
    for series in byReplica.values {
      guard let first = series.first, let last = series.last, last.at > first.at,
        let increase = increase(name, series)
      else { continue }
      total = (total ?? 0) + increase / last.at.timeIntervalSince(first.at)
    }
    return total
  }

  /// How much a counter grew across consecutive scrapes, resets included.
  static func increase(_ name: String, _ series: [ScrapePoint], where match: (MetricSample) -> Bool = { _ in true })
    -> Double?
  {
    var previous: Double?
    var increase: Double?
    for point in series {
      guard let value = point.total(name, where: match) else { continue }
      if let previous { increase = (increase ?? 0) + (value >= previous ? value - previous : value) }
      previous = value
    }
    return increase
  }

  /// `histogram_quantile` over the buckets' increase in the window, summed over replicas, with
  /// linear interpolation inside the bucket (Prometheus' method).
  static func quantile(_ q: Double, of histogram: String, _ byReplica: [String: [ScrapePoint]]) -> Double? {
    var buckets: [Double: Double] = [:]
    for series in byReplica.values {
      let bounds = Set(
        series.flatMap { $0.samples }.filter { $0.name == histogram + "_bucket" }.compactMap {
          $0.labels["le"].flatMap { PrometheusText.number(Substring($0)) }
        })
      for bound in bounds {
        let grew = increase(histogram + "_bucket", series) {
          $0.labels["le"].flatMap { PrometheusText.number(Substring($0)) } == bound
        }
        if let grew { buckets[bound, default: 0] += grew }
      }
    }
    let sorted = buckets.sorted { $0.key < $1.key }
    guard let total = sorted.last?.value, total > 0, sorted.last?.key == .infinity else { return nil }
    let rank = q * total
    var lowerBound = 0.0
    var lowerCount = 0.0
    for (bound, count) in sorted {
      if count >= rank {
        if bound == .infinity { return lowerBound }
        let inBucket = count - lowerCount
        return inBucket > 0 ? lowerBound + (bound - lowerBound) * (rank - lowerCount) / inBucket : bound
      }
      lowerBound = bound
      lowerCount = count
    }
    return nil
  }
}

/// Whether a value breaks a monitor's threshold (`max` above, `min` below).
extension Monitor.Threshold {
  public func isBreached(by value: Double) -> Bool {
    if let max, value > max { return true }
    if let min, value < min { return true }
    return false
  }
}
