import Foundation

/// A model version's baseline: the histogram of each input feature in its training data, written
/// by the training run as `profile.json` and kept by the registry beside the version.
///
///     {"features": {"amount": {"edges": [-4, -3.5, …, 4], "counts": [0, 3, …, 1]}}}
///
/// `edges` are the ascending upper bounds of the finite buckets (Prometheus' `le`), `counts` the
/// number of training rows per bucket, not cumulative: `counts[i]` holds the values in
/// (`edges[i-1]`, `edges[i]`], and the one extra last count those above the last edge.
public struct DriftProfile: Sendable, Hashable, Decodable {
  public struct Feature: Sendable, Hashable, Decodable {
    public var edges: [Double]
    public var counts: [Double]

    public init(edges: [Double], counts: [Double]) {
      self.edges = edges
      self.counts = counts
    }
  }

  public var features: [String: Feature]

  public init(features: [String: Feature]) { self.features = features }

  /// Reads and checks a profile: edges ascending, one count per bucket plus the overflow bucket,
  /// counts finite and not negative.
  public static func decode(_ data: Data) throws -> DriftProfile {
    let profile: DriftProfile
    do {
      profile = try JSONDecoder().decode(DriftProfile.self, from: data)
    } catch {
      throw MetricsError("profile.json is not {\"features\": {NAME: {\"edges\": [...], \"counts\": [...]}}}")
    }
    for (name, feature) in profile.features {
      guard zip(feature.edges, feature.edges.dropFirst()).allSatisfy({ $0 < $1 }), feature.edges.allSatisfy(\.isFinite)
      else { throw MetricsError("profile.json: the edges of feature '\(name)' must be finite and ascending") }
      guard feature.counts.count == feature.edges.count + 1 else {
        throw MetricsError(
          "profile.json: feature '\(name)' has \(feature.edges.count) edges, so \(feature.edges.count + 1) counts "
            + "(the last for values above the last edge); got \(feature.counts.count)")
      }
      guard feature.counts.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
        throw MetricsError("profile.json: the counts of feature '\(name)' must be finite and not negative")
      }
    }
    return profile
  }
}

public struct MetricsError: Error, CustomStringConvertible, Sendable {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// Distances between a live histogram and a baseline with the same buckets.
public enum Drift {
  /// Population Stability Index: Σ (live − base) · ln(live / base) over the buckets' shares, each
  /// share floored at 0.0001 so an empty bucket counts without dividing by zero. In practice
  /// below 0.1 is stable, 0.1–0.25 a moderate shift, above 0.25 a major one.
  /// Fewer live values than this in a window are no data: small samples make PSI large and the
  /// KS p-value small by chance (with 17 buckets, PSI's noise is about 16 / n).
  public static let minimumObservations = 200.0

  public static func psi(live: [Double], baseline: [Double]) -> Double? {
    guard live.count == baseline.count, let a = shares(live), let e = shares(baseline) else { return nil }
    var sum = 0.0
    for (l, b) in zip(a, e) {
      let p = max(l, 1e-4)
      let q = max(b, 1e-4)
      sum += (p - q) * log(p / q)
    }
    return sum
  }

  /// The two-sample Kolmogorov–Smirnov test on binned data: the largest distance between the two
  /// cumulative shares at the bucket edges, and its asymptotic p-value (Kolmogorov's distribution
  /// with Stephens' correction, as in Numerical Recipes). A p-value below 0.05 says the live
  /// values are unlikely to come from the baseline's distribution.
  public static func ks(live: [Double], baseline: [Double]) -> (statistic: Double, pValue: Double)? {
    guard live.count == baseline.count, let a = shares(live), let e = shares(baseline) else { return nil }
    var cumulativeA = 0.0
    var cumulativeE = 0.0
    var d = 0.0
    for (l, b) in zip(a, e) {
      cumulativeA += l
      cumulativeE += b
      d = max(d, abs(cumulativeA - cumulativeE))
    }
    let n = live.reduce(0, +)
    let m = baseline.reduce(0, +)
    let effective = (n * m / (n + m)).squareRoot()
    return (d, kolmogorovQ((effective + 0.12 + 0.11 / effective) * d))
  }

  /// Q_KS(λ) = 2 Σ_{j≥1} (−1)^{j−1} e^{−2 j² λ²}: the chance of a distance at least this large.
  static func kolmogorovQ(_ lambda: Double) -> Double {
    guard lambda > 0.001 else { return 1 }
    var sum = 0.0
    var sign = 1.0
    for j in 1...100 {
      let term = sign * exp(-2 * Double(j * j) * lambda * lambda)
      sum += term
      if abs(term) < 1e-10 { break }
      sign = -sign
    }
    return min(1, max(0, 2 * sum))
  }

  private static func shares(_ counts: [Double]) -> [Double]? {
    let total = counts.reduce(0, +)
    guard total > 0, counts.allSatisfy({ $0 >= 0 }) else { return nil }
    return counts.map { $0 / total }
  }
}
