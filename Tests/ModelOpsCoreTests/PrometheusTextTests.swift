import ModelOpsCore
import Testing

@Suite struct PrometheusTextTests {
  @Test func parsesCountersGaugesHistogramsSummariesLabelsEscapesAndSpecialValues() throws {
    let text = """
      # HELP http_requests_total Requests.\\nBy version, with a \\\\ backslash.
      # TYPE http_requests_total counter
      http_requests_total{version="1",path="/predict"} 1027 1395066363000
      http_requests_total{version="2",path="/predict",} 3
      # a plain comment
      # TYPE model_accuracy gauge
      model_accuracy 0.94
      model_temperature -Inf
      weird{msg="say \\"hi\\"\\nbye \\\\ end"} NaN

      # TYPE latency_seconds histogram
      latency_seconds_bucket{le="0.1"} 5
      latency_seconds_bucket{le="1e0"} 9
      latency_seconds_bucket{le="+Inf"} 10
      latency_seconds_sum 3.5
      latency_seconds_count 10
      # TYPE rpc summary
      rpc{quantile="0.99"} 0.2
      rpc_sum 12
      rpc_count 40\r
      """
    let families = try PrometheusText.parse(text)
    #expect(
      families.map(\.name) == [
        "http_requests_total", "model_accuracy", "model_temperature", "weird", "latency_seconds", "rpc",
      ])
    let requests = try #require(families.first)
    #expect(requests.kind == .counter)
    #expect(requests.help == "Requests.\nBy version, with a \\ backslash.")
    #expect(
      requests.samples.first
        == MetricSample(
          name: "http_requests_total", labels: ["version": "1", "path": "/predict"], value: 1027,
          timestamp: 1_395_066_363_000))
    #expect(requests.samples.last?.labels == ["version": "2", "path": "/predict"])
    #expect(families[1].kind == .gauge && families[1].samples.first?.value == 0.94)
    #expect(families[2].kind == .untyped && families[2].samples.first?.value == -.infinity)
    #expect(families[3].samples.first?.labels["msg"] == "say \"hi\"\nbye \\ end")
    #expect(families[3].samples.first?.value.isNaN == true)
    #expect(
      families[4].samples.map(\.name) == [
        "latency_seconds_bucket", "latency_seconds_bucket", "latency_seconds_bucket", "latency_seconds_sum",
        "latency_seconds_count",
      ])
    #expect(families[5].samples.count == 3)
    #expect(try PrometheusText.parse("").isEmpty)
  }

  @Test(arguments: [
    ("1abc 1", 1, "a sample must start with a metric name"),
    ("x{a=\"1\" 1", 1, "labels are separated by commas and closed with }"),
    ("x{a=1} 1", 1, "the value of label a must be quoted"),
    ("x{a=\"1} 1", 1, "the value of label a is not closed"),
    ("x{a=\"1\",a=\"2\"} 1", 1, "label a given twice"),
    ("x{1a=\"1\"} 1", 1, "invalid label name '1a'"),
    ("x{a=\"\\q\"} 1", 1, "unknown escape \\q"),
    ("x one", 1, "'one' is not a number"),
    ("x 1 2.5", 1, "'2.5' is not a timestamp (integer ms)"),
    ("x 1 2 3", 1, "after x and its labels: a value and an optional timestamp"),
    ("x", 1, "after x and its labels: a value and an optional timestamp"),
    ("x 1\nx 2", 2, "x with these labels is given twice"),
    ("# TYPE x counter\nx -1", 2, "counter x is negative"),
    ("# TYPE x gauge\n# TYPE x gauge", 2, "# TYPE x given twice"),
    ("x 1\n# TYPE x gauge", 2, "# TYPE x after its samples"),
    ("# TYPE x meter", 1, "# TYPE x needs one of counter, gauge, histogram, summary, untyped"),
    ("# TYPE 9x gauge", 1, "invalid metric name '9x' in # TYPE"),
    ("# HELP x a\n# HELP x b", 2, "a second # HELP for x"),
    ("# TYPE h histogram\nh_bucket 1", 2, "histogram bucket h_bucket needs an 'le' label holding a number"),
    ("# TYPE h histogram\nh_bucket{le=\"x\"} 1", 2, "histogram bucket h_bucket needs an 'le' label holding a number"),
    ("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1", 3, "histogram h has no le=\"+Inf\" bucket"),
    ("# TYPE h histogram\nh 1", 2, "h is a histogram: its samples are named _bucket/_sum/_count"),
    ("# TYPE s summary\ns 1", 2, "summary sample s needs a 'quantile' label holding a number"),
  ])
  func refusesMalformedExpositionsSayingWhereAndWhy(text: String, line: Int, message: String) {
    #expect(throws: ExpositionError(line: line, message: message)) { try PrometheusText.parse(text) }
  }
}
