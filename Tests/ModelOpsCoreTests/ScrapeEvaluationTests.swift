import Foundation
import ModelOpsCore
import Testing

@Suite struct ScrapeEvaluationTests {
  let start = Date(timeIntervalSince1970: 1_000_000)

  func point(_ seconds: Double, _ replica: String, _ version: Int, _ text: String) throws -> ScrapePoint {
    ScrapePoint(
      at: start.addingTimeInterval(seconds), replica: replica, version: version,
      samples: try PrometheusText.samples(text))
  }

  func counters(_ requests: Double, _ errors: Double) -> String {
    "http_requests_total{version=\"x\"} \(requests)\nhttp_requests_errors_total{version=\"x\"} \(errors)\n"
  }

  @Test func theErrorRatioIsJudgedPerVersionFromRatesOverTheWindow() throws {
    let ratio = Monitor.Metric.ratio(numerator: "http_requests_errors_total", denominator: "http_requests_total")
    let points = [
      try point(0, "a", 1, counters(100, 1)), try point(10, "a", 1, counters(200, 2)),
      try point(0, "b", 1, counters(50, 0)), try point(10, "b", 1, counters(150, 0)),
      try point(0, "c", 2, counters(0, 0)), try point(10, "c", 2, counters(100, 30)),
    ]
    let now = start.addingTimeInterval(10)
    let stable = try #require(ScrapeEvaluation.value(of: ratio, version: 1, points: points, window: 60, now: now))
    #expect(abs(stable - 1.0 / 200) < 1e-9)
    #expect(ScrapeEvaluation.value(of: ratio, version: 2, points: points, window: 60, now: now) == 0.3)
    // Outside the window, or a version without traffic: no data, not zero.
    #expect(ScrapeEvaluation.value(of: ratio, version: 2, points: points, window: 5, now: now) == nil)
    #expect(ScrapeEvaluation.value(of: ratio, version: 3, points: points, window: 60, now: now) == nil)
    let idle = [try point(0, "a", 1, counters(10, 0)), try point(10, "a", 1, counters(10, 0))]
    #expect(ScrapeEvaluation.value(of: ratio, version: 1, points: idle, window: 60, now: now) == nil)
  }

  @Test func aCounterResetCountsFromZero() throws {
    let ratio = Monitor.Metric.ratio(numerator: "http_requests_errors_total", denominator: "http_requests_total")
    let points = [
      try point(0, "a", 1, counters(100, 10)), try point(5, "a", 1, counters(150, 20)),
      try point(10, "a", 1, counters(50, 0)),
    ]
    // Increase: 50 + 50 requests, 10 + 0 errors.
    let value = ScrapeEvaluation.value(
      of: ratio, version: 1, points: points, window: 60, now: start.addingTimeInterval(10))
    #expect(value == 0.1)
  }

  @Test func aGaugeIsTheMeanOfEachReplicasLatestValue() throws {
    let points = [
      try point(0, "a", 1, "model_accuracy 0.5"), try point(5, "a", 1, "model_accuracy 0.9"),
      try point(5, "b", 1, "model_accuracy 0.7"),
    ]
    let value = ScrapeEvaluation.value(
      of: .gauge("model_accuracy"), version: 1, points: points, window: 60, now: start.addingTimeInterval(5))
    #expect(abs((value ?? 0) - 0.8) < 1e-9)
  }

  @Test func aQuantileInterpolatesInsideTheBucketOfTheWindowsIncrease() throws {
    func histogram(_ fast: Double, _ slow: Double, _ all: Double) -> String {
      """
      # TYPE latency_seconds histogram
      latency_seconds_bucket{le="0.1"} \(fast)
      latency_seconds_bucket{le="0.5"} \(slow)
      latency_seconds_bucket{le="+Inf"} \(all)
      latency_seconds_count \(all)
      """
    }
    let points = [try point(0, "a", 1, histogram(10, 10, 10)), try point(10, "a", 1, histogram(60, 100, 110))]
    let now = start.addingTimeInterval(10)
    // Increase: 50 under 0.1 s, 90 under 0.5 s, 100 in all. p50 = 0.1 s; p70 = 0.1 + 0.4 × (70−50)/40.
    #expect(
      ScrapeEvaluation.value(
        of: .quantile(histogram: "latency_seconds", q: 0.5), version: 1, points: points, window: 60, now: now) == 0.1)
    let p70 = ScrapeEvaluation.value(
      of: .quantile(histogram: "latency_seconds", q: 0.7), version: 1, points: points, window: 60, now: now)
    #expect(abs((p70 ?? 0) - 0.3) < 1e-9)
    #expect(
      ScrapeEvaluation.value(
        of: .quantile(histogram: "latency_seconds", q: 0.99), version: 1, points: points, window: 60, now: now) == 0.5)
  }

  @Test func thresholdsBreakAboveMaxAndBelowMin() {
    #expect(Monitor.Threshold(min: nil, max: 0.05).isBreached(by: 0.06))
    #expect(!Monitor.Threshold(min: nil, max: 0.05).isBreached(by: 0.05))
    #expect(Monitor.Threshold(min: 0.8, max: nil).isBreached(by: 0.79))
    #expect(!Monitor.Threshold(min: 0.8, max: nil).isBreached(by: 0.8))
  }
}
