import Foundation
import Synchronization

/// What the router answered, per deployment and model version (the router sees every request of
/// every version, so a canary is measured with no instrumentation in the model server): answers
/// by status class and a latency histogram. Answers the router gives itself (no healthy replica,
/// a replica that refused) count under version `none`.
public final class RouterMetrics: Sendable {
  /// Upper bounds of the latency histogram's buckets, in seconds.
  public static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

  public struct Series: Codable, Sendable, Hashable {
    public var deployment: String
    public var version: String
    /// `2xx` … `5xx` → answers.
    public var codes: [String: Int] = [:]
    /// Answers within each bound (not cumulative), and one more bucket for slower ones.
    public var buckets: [Int] = Array(repeating: 0, count: RouterMetrics.bounds.count + 1)
    public var sum: Double = 0
    public var count = 0
    /// Mirrored requests by `MirrorResult` (nil: none; a router from before mirror steps).
    public var mirrored: [String: Int]?
  }

  /// What became of a request mirrored to the new version: its answer agreed or disagreed with
  /// the stable one, or the pair was dropped (too slow, too large, too many in flight).
  public enum MirrorResult: String, Sendable {
    case agreed, disagreed, dropped
  }

  private let series = Mutex<[String: Series]>([:])

  public init() {}

  /// Counts one answer.
  public func record(deployment: String, version: Int?, status: Int, seconds: Double) {
    let label = version.map(String.init) ?? "none"
    let code = "\(min(5, max(1, status / 100)))xx"
    let bucket = Self.bounds.firstIndex { seconds <= $0 } ?? Self.bounds.count
    series.withLock { all in
      let key = deployment + "\u{0}" + label
      var entry = all[key] ?? Series(deployment: deployment, version: label)
      entry.codes[code, default: 0] += 1
      entry.buckets[bucket] += 1
      entry.sum += seconds
      entry.count += 1
      all[key] = entry
    }
  }

  /// Counts one mirrored request under the version it was mirrored to.
  public func recordMirror(deployment: String, version: Int, result: MirrorResult) {
    let label = String(version)
    series.withLock { all in
      let key = deployment + "\u{0}" + label
      var entry = all[key] ?? Series(deployment: deployment, version: label)
      entry.mirrored = entry.mirrored ?? [:]
      entry.mirrored?[result.rawValue, default: 0] += 1
      all[key] = entry
    }
  }

  /// Every series, sorted by deployment and version.
  public var snapshot: [Series] {
    series.withLock { Array($0.values) }.sorted { ($0.deployment, $0.version) < ($1.deployment, $1.version) }
  }

  /// The series in Prometheus' text format: `modelops_router_requests_total{deployment,version,code}`
  /// and the histogram `modelops_router_request_duration_seconds{deployment,version}`.
  public static func exposition(_ series: [Series]) -> String {
    guard !series.isEmpty else { return "" }
    var out =
      "# HELP modelops_router_requests_total Requests answered by the router, by model version and status class.\n"
    out += "# TYPE modelops_router_requests_total counter\n"
    for entry in series {
      for (code, count) in entry.codes.sorted(by: { $0.key < $1.key }) {
        out += "modelops_router_requests_total{\(labels(entry)),code=\"\(code)\"} \(count)\n"
      }
    }
    out += "# HELP modelops_router_request_duration_seconds Time from a request read to its answer's end.\n"
    out += "# TYPE modelops_router_request_duration_seconds histogram\n"
    for entry in series {
      var cumulative = 0
      for (index, bound) in bounds.enumerated() {
        cumulative += entry.buckets[safe: index]
        out += "modelops_router_request_duration_seconds_bucket{\(labels(entry)),le=\"\(bound)\"} \(cumulative)\n"
      }
      out += "modelops_router_request_duration_seconds_bucket{\(labels(entry)),le=\"+Inf\"} \(entry.count)\n"
      out += "modelops_router_request_duration_seconds_sum{\(labels(entry))} \(entry.sum)\n"
      out += "modelops_router_request_duration_seconds_count{\(labels(entry))} \(entry.count)\n"
    }
    let mirrored = series.filter { $0.mirrored != nil }
    guard !mirrored.isEmpty else { return out }
    out +=
      "# HELP modelops_router_mirrored_total Requests mirrored to a version, by what became of the pair of answers.\n"
    out += "# TYPE modelops_router_mirrored_total counter\n"
    for entry in mirrored {
      for result in ["agreed", "disagreed", "dropped"] {
        out += "modelops_router_mirrored_total{\(labels(entry)),result=\"\(result)\"} \(entry.mirrored?[result] ?? 0)\n"
      }
    }
    return out
  }

  private static func labels(_ entry: Series) -> String {
    "deployment=\"\(entry.deployment)\",version=\"\(entry.version)\""
  }
}

extension Array where Element == Int {
  /// The element at `index`, or 0 past the end (a series decoded from an older router).
  fileprivate subscript(safe index: Int) -> Int { indices.contains(index) ? self[index] : 0 }
}
