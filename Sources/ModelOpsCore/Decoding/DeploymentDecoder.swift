/// Decodes a Deployment's spec: what runs, where it listens, its health check and strategy.
enum DeploymentDecoder {
  static func decode(_ node: YAMLNode, name: String, _ c: DecodeContext) -> Deployment.Spec? {
    let allowed = [
      "model", "runtime", "command", "image", "env", "replicas", "port", "listen", "health", "strategy",
      "progressDeadline", "analysis", "rollback", "resources", "ray",
    ]
    guard let f = Fields(node, path: "spec", allowed: allowed, context: c) else { return nil }
    let model = f.required("model").flatMap { decodeModelReference($0, c) }
    let listen = f.required("listen").flatMap { decodeListen($0, "spec.listen", deployment: name, c) }
    // Placeholders keep the rest of the spec checked; the document is dropped if anything failed.
    var spec = Deployment.Spec(
      model: model ?? ModelReference(model: "", selector: .version(1)),
      listen: listen ?? ListenAddress(host: "", port: 0))
    if let n = f["runtime"] { spec.runtime = c.oneOf(n, "spec.runtime", Deployment.Runtime.allCases) }
    if let n = f["command"] {
      spec.command = c.stringList(n, "spec.command")
      if spec.command?.isEmpty == true { c.error("'spec.command' must not be empty", at: n) }
    }
    if let n = f["image"] { spec.image = c.imageReference(n, "spec.image") }
    if let n = f["ray"] { spec.ray = RayOptionsDecoder.serve(n, c) }
    switch spec.runtime {
    case .ray:
      if f["ray"] == nil {
        c.error("'runtime: ray' needs 'spec.ray' with the Serve application's importPath", at: node)
      }
      let elsewhere = [
        ("command", "the Serve application is spec.ray.importPath"), ("image", "it runs in the cluster's image"),
        ("port", "Serve's proxy answers for it"), ("replicas", "use spec.ray.replicas"),
        ("resources", "use spec.ray.actorOptions"),
      ]
      for (key, why) in elsewhere {
        if let n = f[key] { c.error("'spec.\(key)' is not used with 'runtime: ray': \(why)", at: n) }
      }
    case _ where f["ray"] != nil:
      c.error("'spec.ray' is for 'runtime: ray'", at: f["ray"] ?? node)
    case .process where f["command"] == nil:
      c.error("the process runtime needs 'command' in 'spec'", at: node)
    case .docker where f["image"] == nil:
      c.error("the docker runtime needs 'image' in 'spec'", at: node)
    case nil where f["command"] == nil && f["image"] == nil:
      c.error("'spec' needs 'command' (process runtime), 'image' (docker runtime) or 'runtime: ray'", at: node)
    default: break
    }
    if let n = f["env"] { spec.env = EnvRules.decode(n, "spec.env", c) }
    if let n = f["replicas"] { spec.replicas = c.int(n, "spec.replicas", in: 0...1000) ?? spec.replicas }
    if let n = f["port"] { spec.port = c.int(n, "spec.port", in: 1...65535) ?? spec.port }
    if let n = f["health"] { spec.health = decodeHealth(n, c) ?? spec.health }
    if spec.runtime == .ray, case .mapping(let pairs)? = f["health"]?.content,
      let path = pairs.first(where: { $0.key.scalar?.value == "path" })?.key
    {
      c.error("'spec.health.path' is not used with 'runtime: ray': health is the Serve application's status", at: path)
    }
    if let n = f["strategy"] { spec.strategy = StrategyDecoder.decode(n, deployment: name, c) ?? spec.strategy }
    if let n = f["progressDeadline"] {
      spec.progressDeadline = c.duration(n, "spec.progressDeadline") ?? spec.progressDeadline
    }
    if let n = f["analysis"], let a = Fields(n, path: "spec.analysis", allowed: ["monitors"], context: c),
      let monitors = a["monitors"]
    {
      spec.analysis.monitors =
        c.list(monitors, "spec.analysis.monitors") { item, path in
          guard let monitor = c.nonEmptyString(item, path) else { return nil }
          c.references.append(
            Reference(
              kind: .monitor, name: monitor, field: "spec.analysis.monitors", requirement: .monitorWatches(name),
              location: c.location(item)))
          return monitor
        } ?? []
    }
    if let n = f["rollback"],
      let r = Fields(n, path: "spec.rollback", allowed: ["auto", "scaleDownDelay"], context: c)
    {
      if let auto = r["auto"] { spec.rollback.auto = c.bool(auto, "spec.rollback.auto") ?? true }
      if let delay = r["scaleDownDelay"],
        let value = c.duration(delay, "spec.rollback.scaleDownDelay", allowZero: true)
      {
        spec.rollback.scaleDownDelay = value
      }
    }
    if let n = f["resources"] { spec.resources = decodeResources(n, c) }
    return spec
  }

  private static func decodeModelReference(_ node: YAMLNode, _ c: DecodeContext) -> ModelReference? {
    guard let text = c.nonEmptyString(node, "spec.model") else { return nil }
    let parts = text.split(separator: "@", omittingEmptySubsequences: false)
    guard parts.count == 2, Names.isDNSLabel(String(parts[0])), !parts[1].isEmpty else {
      c.error(
        "'spec.model' must be NAME@ALIAS or NAME@VERSION (e.g. fraud-detector@production), got '\(text)'", at: node)
      return nil
    }
    let model = String(parts[0])
    let selector: ModelReference.Selector
    if let version = Int(parts[1]) {
      guard version >= 1 else {
        c.error("model version in 'spec.model' must be at least 1, got \(version)", at: node)
        return nil
      }
      selector = .version(version)
      c.references.append(
        Reference(kind: .model, name: model, field: "spec.model", requirement: .exists, location: c.location(node)))
    } else {
      let alias = String(parts[1])
      guard Names.isDNSLabel(alias) else {
        c.error("alias '\(alias)' in 'spec.model' is not valid: \(Names.dnsLabelRule)", at: node)
        return nil
      }
      selector = .alias(alias)
      c.references.append(
        Reference(
          kind: .model, name: model, field: "spec.model", requirement: .modelHasAlias(alias), location: c.location(node)
        ))
    }
    return ModelReference(model: model, selector: selector)
  }

  /// `host:port` or `[v6]:port`; the address is claimed for this deployment.
  static func decodeListen(_ node: YAMLNode, _ field: String, deployment: String, _ c: DecodeContext) -> ListenAddress?
  {
    guard let text = c.nonEmptyString(node, field) else { return nil }
    var host = ""
    var portText = Substring("")
    if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
      host = String(text[text.index(after: text.startIndex)..<close])
      let rest = text[text.index(after: close)...]
      if rest.hasPrefix(":") { portText = rest.dropFirst() }
    } else if let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") {
      host = String(text[..<colon])
      portText = text[text.index(after: colon)...]
    }
    guard !host.isEmpty, !host.contains(where: \.isWhitespace), let port = Int(portText), (1...65535).contains(port)
    else {
      c.error("'\(field)' must be HOST:PORT with a port from 1 to 65535 (e.g. 127.0.0.1:9000), got '\(text)'", at: node)
      return nil
    }
    let address = ListenAddress(host: host, port: port)
    c.listenClaims.append(
      ListenClaim(address: address, deployment: deployment, field: field, location: c.location(node)))
    return address
  }

  private static func decodeHealth(_ node: YAMLNode, _ c: DecodeContext) -> Deployment.Health? {
    let allowed = ["path", "interval", "timeout", "failureThreshold", "startupTimeout"]
    guard let f = Fields(node, path: "spec.health", allowed: allowed, context: c) else { return nil }
    var h = Deployment.Health()
    if let n = f["path"], let path = c.nonEmptyString(n, "spec.health.path") {
      if path.hasPrefix("/") {
        h.path = path
      } else {
        c.error("'spec.health.path' must start with '/', got '\(path)'", at: n)
      }
    }
    if let n = f["interval"] { h.interval = c.duration(n, "spec.health.interval") ?? h.interval }
    if let n = f["timeout"] { h.timeout = c.duration(n, "spec.health.timeout") ?? h.timeout }
    if let n = f["failureThreshold"] { h.failureThreshold = c.int(n, "spec.health.failureThreshold", in: 1...100) ?? 3 }
    if let n = f["startupTimeout"] {
      h.startupTimeout = c.duration(n, "spec.health.startupTimeout") ?? h.startupTimeout
    }
    return h
  }

  private static func decodeResources(_ node: YAMLNode, _ c: DecodeContext) -> Deployment.Resources {
    var r = Deployment.Resources()
    guard let f = Fields(node, path: "spec.resources", allowed: ["memory", "cpus"], context: c) else { return r }
    if let n = f["memory"] { r.memory = c.size(n, "spec.resources.memory") }
    if let n = f["cpus"] {
      // Written "1" (as in Docker's --cpus) or as a bare number.
      let value: Double?
      if case .string(let text) = n.scalar?.resolved {
        value = Double(text) ?? .nan
      } else {
        value = c.number(n, "spec.resources.cpus")
      }
      if let value {
        if value > 0, value <= 1024 {
          r.cpus = value
        } else {
          c.error("'spec.resources.cpus' must be a positive number of CPUs such as \"0.5\" or \"2\"", at: n)
        }
      }
    }
    return r
  }
}
