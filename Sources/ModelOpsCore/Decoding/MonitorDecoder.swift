/// Decodes a Monitor's spec: one source, one metric (unless alerts are the source), threshold, actions.
enum MonitorDecoder {
  static func decode(_ node: YAMLNode, name: String, _ c: DecodeContext) -> Monitor.Spec? {
    let allowed = ["deployment", "source", "metric", "window", "threshold", "for", "actions"]
    guard let f = Fields(node, path: "spec", allowed: allowed, context: c) else { return nil }
    let deployment = f.required("deployment").flatMap { n -> String? in
      guard let d = c.nonEmptyString(n, "spec.deployment") else { return nil }
      c.references.append(
        Reference(kind: .deployment, name: d, field: "spec.deployment", requirement: .exists, location: c.location(n)))
      return d
    }
    let source = f.required("source").flatMap { decodeSource($0, c) }
    // A placeholder source keeps the rest checked; the document is dropped if anything failed.
    var spec = Monitor.Spec(deployment: deployment ?? "", source: source ?? .alertmanager(alertname: ""))
    switch source {
    case .alertmanager:
      for key in ["metric", "window", "threshold"] {
        if let keyNode = f.keyNode(key) {
          c.error("'\(key)' is not used with an alertmanager source: the alert itself is the breach", at: keyNode)
        }
      }
    case .router:
      spec.metric = f.required("metric").flatMap { decodeMetric($0, c) }
      if let metric = spec.metric, !metric.isRouterMetric, let n = f["metric"] {
        c.error(
          "a router source judges 'errorRate', 'latency' or 'agreement'; use a scrape source for other metrics", at: n)
      }
      spec.threshold = f.required("threshold").flatMap { decodeThreshold($0, c) }
      spec.window = f["window"].map { c.duration($0, "spec.window") } ?? .seconds(60)
    case .prometheus:
      for key in ["metric", "window"] {
        if let keyNode = f.keyNode(key) {
          c.error("'\(key)' is not used with a prometheus source: the query's result is the value", at: keyNode)
        }
      }
      spec.threshold = f.required("threshold").flatMap { decodeThreshold($0, c) }
    default:
      spec.metric = f.required("metric").flatMap { decodeMetric($0, c) }
      if let metric = spec.metric, metric.isRouterMetric, let n = f["metric"] {
        c.error("'errorRate', 'latency' and 'agreement' are measured by the router: use 'source: {router: {}}'", at: n)
      }
      if case .drift(_, let method) = spec.metric, f["threshold"] == nil {
        spec.threshold = method == .psi ? Monitor.Threshold(max: 0.25) : Monitor.Threshold(min: 0.05)
      } else {
        spec.threshold = f.required("threshold").flatMap { decodeThreshold($0, c) }
      }
      spec.window = f["window"].map { c.duration($0, "spec.window") } ?? .seconds(60)
    }
    if let n = f["for"] { spec.forDuration = c.duration(n, "spec.for", allowZero: true) ?? spec.forDuration }
    if let n = f["actions"] {
      var seen: Set<Monitor.Action> = []
      spec.actions =
        c.list(n, "spec.actions") { item, path in
          guard let action = c.oneOf(item, path, Monitor.Action.allCases) else { return nil }
          guard seen.insert(action).inserted else {
            c.error("action '\(action.rawValue)' is listed twice", at: item)
            return nil
          }
          return action
        } ?? spec.actions
      if case .sequence(let items) = n.content, items.isEmpty {
        c.error("'spec.actions' needs at least one of rollback, retrain, notify", at: n)
      }
    }
    return spec
  }

  private static func decodeSource(_ node: YAMLNode, _ c: DecodeContext) -> Monitor.Source? {
    let options = ["scrape", "prometheus", "alertmanager", "router"]
    guard let f = Fields(node, path: "spec.source", allowed: options, context: c),
      let (key, value) = f.exactlyOne(of: options)
    else { return nil }
    let path = "spec.source.\(key)"
    switch key {
    case "scrape":
      guard let s = Fields(value, path: path, allowed: ["path", "interval"], context: c) else { return nil }
      var metricsPath = "/metrics"
      if let n = s["path"], let p = c.nonEmptyString(n, "\(path).path") {
        if p.hasPrefix("/") {
          metricsPath = p
        } else {
          c.error("'\(path).path' must start with '/', got '\(p)'", at: n)
        }
      }
      let interval = s["interval"].map { c.duration($0, "\(path).interval") } ?? .seconds(15)
      return interval.map { .scrape(path: metricsPath, interval: $0) }
    case "prometheus":
      guard let s = Fields(value, path: path, allowed: ["query", "interval"], context: c),
        let q = s.required("query"), let query = c.nonEmptyString(q, "\(path).query")
      else { return nil }
      let interval = s["interval"].map { c.duration($0, "\(path).interval") } ?? .seconds(15)
      return interval.map { .prometheus(query: query, interval: $0) }
    case "router":
      guard let s = Fields(value, path: path, allowed: ["interval"], context: c) else { return nil }
      let interval = s["interval"].map { c.duration($0, "\(path).interval") } ?? .seconds(2)
      return interval.map { .router(interval: $0) }
    default:
      guard let s = Fields(value, path: path, allowed: ["alertname"], context: c),
        let a = s.required("alertname"), let alert = c.nonEmptyString(a, "\(path).alertname")
      else { return nil }
      return .alertmanager(alertname: alert)
    }
  }

  private static func decodeMetric(_ node: YAMLNode, _ c: DecodeContext) -> Monitor.Metric? {
    let options = ["ratio", "gauge", "quantile", "drift", "errorRate", "latency", "agreement"]
    guard let f = Fields(node, path: "spec.metric", allowed: options, context: c),
      let (key, value) = f.exactlyOne(of: options)
    else { return nil }
    let path = "spec.metric.\(key)"
    func metricName(_ n: YAMLNode, _ field: String) -> String? {
      guard let name = c.nonEmptyString(n, field) else { return nil }
      guard Names.isMetricName(name) else {
        c.error("'\(field)' is not a valid Prometheus metric name: '\(name)'", at: n)
        return nil
      }
      return name
    }
    func quantile(_ n: YAMLNode, _ field: String) -> Double? {
      guard let q = c.number(n, field) else { return nil }
      guard q > 0, q < 1 else {
        c.error("'\(field)' must be between 0 and 1 (exclusive), e.g. 0.99; got \(q)", at: n)
        return nil
      }
      return q
    }
    switch key {
    case "errorRate":
      _ = Fields(value, path: path, allowed: [], context: c)
      return .errorRate
    case "agreement":
      _ = Fields(value, path: path, allowed: [], context: c)
      return .agreement
    case "latency":
      guard let m = Fields(value, path: path, allowed: ["q"], context: c) else { return nil }
      return m.required("q").flatMap { quantile($0, "\(path).q") }.map { .latency(q: $0) }
    case "gauge":
      return metricName(value, path).map { .gauge($0) }
    case "ratio":
      guard let m = Fields(value, path: path, allowed: ["numerator", "denominator"], context: c) else { return nil }
      let num = m.required("numerator").flatMap { metricName($0, "\(path).numerator") }
      let den = m.required("denominator").flatMap { metricName($0, "\(path).denominator") }
      guard let num, let den else { return nil }
      return .ratio(numerator: num, denominator: den)
    case "quantile":
      guard let m = Fields(value, path: path, allowed: ["histogram", "q"], context: c) else { return nil }
      let histogram = m.required("histogram").flatMap { metricName($0, "\(path).histogram") }
      let q = m.required("q").flatMap { quantile($0, "\(path).q") }
      guard let histogram, let q else { return nil }
      return .quantile(histogram: histogram, q: q)
    default:
      guard let m = Fields(value, path: path, allowed: ["feature", "method"], context: c),
        let featureNode = m.required("feature"), let feature = c.nonEmptyString(featureNode, "\(path).feature")
      else { return nil }
      let method = m["method"].map { c.oneOf($0, "\(path).method", Monitor.DriftMethod.allCases) } ?? .psi
      return method.map { .drift(feature: feature, method: $0) }
    }
  }

  private static func decodeThreshold(_ node: YAMLNode, _ c: DecodeContext) -> Monitor.Threshold? {
    guard let f = Fields(node, path: "spec.threshold", allowed: ["min", "max"], context: c) else { return nil }
    var t = Monitor.Threshold()
    if let n = f["min"] { t.min = c.number(n, "spec.threshold.min") }
    if let n = f["max"] { t.max = c.number(n, "spec.threshold.max") }
    if f["min"] == nil, f["max"] == nil {
      c.error("'spec.threshold' needs 'min' or 'max'", at: node)
      return nil
    }
    if let lo = t.min, let hi = t.max, lo > hi {
      c.error("'spec.threshold' can never hold: min \(lo) is above max \(hi)", at: node)
      return nil
    }
    return t
  }
}
