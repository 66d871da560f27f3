/// Resources encode the way they are written in YAML, so digests are stable and a field-level
/// diff names fields as a person wrote them (`spec.aliases.production.version`).
struct ManifestKey: CodingKey {
  var stringValue: String
  var intValue: Int? { nil }
  init(_ string: String) { stringValue = string }
  init?(stringValue: String) { self.stringValue = stringValue }
  init?(intValue: Int) { nil }
}

extension KeyedEncodingContainer where Key == ManifestKey {
  mutating func put<T: Encodable>(_ value: T?, _ key: String) throws {
    if let value { try encode(value, forKey: ManifestKey(key)) }
  }
}

extension Model.Alias {
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: ManifestKey.self)
    try c.put(name, "name")
    switch target {
    case .pinned(let version): try c.put(version, "version")
    case .latestPassing(let rule):
      try c.put("latest-passing", "policy")
      try c.put(rule.gates, "gates")
      try c.put(rule.from, "from")
      try c.put(rule.soak, "soak")
    }
  }
}

extension Pipeline.Input {
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: ManifestKey.self)
    try c.put(name, "name")
    switch source {
    case .hostPath(let path): try c.put(path, "path")
    case .dvc(let pointer): try c.put(pointer, "dvc")
    }
  }
}

extension Pipeline.Step {
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: ManifestKey.self)
    try c.put(name, "name")
    switch command {
    case .shell(let script): try c.put(script, "run")
    case .exec(let argv): try c.put(argv, "command")
    }
    try c.put(env, "env")
    try c.put(timeout, "timeout")
  }
}

extension Deployment.Strategy {
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: ManifestKey.self)
    try c.put(typeName, "type")
    switch self {
    case .recreate: break
    case .rolling(let surge, let unavailable):
      try c.put(surge, "maxSurge")
      try c.put(unavailable, "maxUnavailable")
    case .blueGreen(let preview, let auto):
      try c.put(preview, "previewListen")
      try c.put(auto, "autoPromote")
    case .canary(let steps, let routing):
      try c.put(steps, "steps")
      if !routing.match.isEmpty { try c.put(routing.match, "match") }
      try c.put(routing.sticky, "sticky")
      if routing.compare != AnswerComparison() { try c.put(routing.compare, "compare") }
    }
  }
}

extension Monitor.Spec {
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: ManifestKey.self)
    try c.put(deployment, "deployment")
    try c.put(source, "source")
    try c.put(metric, "metric")
    try c.put(window, "window")
    try c.put(threshold, "threshold")
    try c.put(forDuration, "for")
    try c.put(actions, "actions")
  }
}

extension Monitor.Source {
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: ManifestKey.self)
    switch self {
    case .scrape(let path, let interval): try c.put(["path": path, "interval": interval.description], "scrape")
    case .prometheus(let query, let interval):
      try c.put(["query": query, "interval": interval.description], "prometheus")
    case .alertmanager(let name): try c.put(["alertname": name], "alertmanager")
    case .router(let interval): try c.put(["interval": interval.description], "router")
    }
  }
}

extension Monitor.Metric {
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: ManifestKey.self)
    switch self {
    case .ratio(let numerator, let denominator):
      try c.put(["numerator": numerator, "denominator": denominator], "ratio")
    case .gauge(let name): try c.put(name, "gauge")
    case .quantile(let histogram, let q):
      var sub = c.nestedContainer(keyedBy: ManifestKey.self, forKey: ManifestKey("quantile"))
      try sub.put(histogram, "histogram")
      try sub.put(q, "q")
    case .drift(let feature, let method): try c.put(["feature": feature, "method": method.rawValue], "drift")
    case .errorRate: try c.put([String: String](), "errorRate")
    case .agreement: try c.put([String: String](), "agreement")
    case .latency(let q): try c.put(["q": q], "latency")
    }
  }
}
