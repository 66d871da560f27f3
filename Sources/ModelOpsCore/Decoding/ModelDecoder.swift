/// Decodes a Model's spec: aliases (pinned or policy), gates, promotion order and retention.
enum ModelDecoder {
  static func decode(_ node: YAMLNode, name: String, _ c: DecodeContext) -> Model.Spec? {
    guard let f = Fields(node, path: "spec", allowed: ["description", "pipeline", "aliases", "retain"], context: c)
    else { return nil }
    var spec = Model.Spec(aliases: [])
    if let n = f["description"] { spec.description = c.string(n, "spec.description") }
    if let n = f["pipeline"], let pipeline = c.nonEmptyString(n, "spec.pipeline") {
      spec.pipeline = pipeline
      c.references.append(
        Reference(
          kind: .pipeline, name: pipeline, field: "spec.pipeline", requirement: .pipelineTrains(name),
          location: c.location(n)))
    }
    if let n = f["retain"] { spec.retain = c.int(n, "spec.retain", in: 1...Int.max) ?? spec.retain }
    if let n = f.required("aliases") { spec.aliases = decodeAliases(n, c) }
    return spec
  }

  private static func decodeAliases(_ node: YAMLNode, _ c: DecodeContext) -> [Model.Alias] {
    guard case .mapping(let pairs) = node.content else {
      c.error("'spec.aliases' must be a mapping of alias names, got \(node.typeDescription)", at: node)
      return []
    }
    var aliases: [Model.Alias] = []
    var localRefs: [(alias: String, target: String, field: String, node: YAMLNode)] = []
    var seen: [String: Int] = [:]
    for pair in pairs {
      guard let alias = c.string(pair.key, "alias name") else { continue }
      if let line = seen[alias] {
        c.error("duplicate alias '\(alias)' (first given at line \(line))", at: pair.key)
        continue
      }
      seen[alias] = pair.key.line
      guard checkAliasName(alias, pair.key, c) else { continue }
      guard let target = decodeTarget(pair.value, alias: alias, c, refs: &localRefs) else { continue }
      aliases.append(Model.Alias(name: alias, target: target))
    }
    let names = Set(seen.keys)
    for ref in localRefs {
      if ref.target == ref.alias {
        c.error("alias '\(ref.alias)' cannot refer to itself in '\(ref.field)'", at: ref.node)
      } else if !names.contains(ref.target) {
        var message = "'\(ref.field)' names alias '\(ref.target)', which this model does not declare"
        if let hint = suggestion(for: ref.target, among: names.sorted()) { message += " (did you mean '\(hint)'?)" }
        c.error(message, at: ref.node)
      }
    }
    checkPromotionCycle(aliases, localRefs.filter { $0.field.hasSuffix(".from") }.map { ($0.alias, $0.node) }, c)
    return aliases
  }

  private static func checkAliasName(_ alias: String, _ node: YAMLNode, _ c: DecodeContext) -> Bool {
    guard Names.isDNSLabel(alias) else {
      c.error("alias name '\(alias)' is not valid: \(Names.dnsLabelRule)", at: node)
      return false
    }
    // Registries reserve these (MLflow resolves `latest` and `vN` itself).
    let reserved =
      alias == "latest" || (alias.hasPrefix("v") && alias.dropFirst().allSatisfy(\.isNumber) && alias.count > 1)
    if reserved {
      c.error("alias name '\(alias)' is reserved by model registries ('latest' and 'v<N>')", at: node)
      return false
    }
    return true
  }

  private static func decodeTarget(
    _ node: YAMLNode, alias: String, _ c: DecodeContext,
    refs: inout [(alias: String, target: String, field: String, node: YAMLNode)]
  ) -> Model.Target? {
    let path = "spec.aliases.\(alias)"
    guard let f = Fields(node, path: path, allowed: ["version", "policy", "gates", "from", "soak"], context: c)
    else { return nil }
    if let versionNode = f["version"] {
      if let policy = f.keyNode("policy") {
        c.error("alias '\(alias)' has both 'version' and 'policy': pin a version or choose a policy", at: policy)
      }
      for key in ["gates", "from", "soak"] {
        if let keyNode = f.keyNode(key) {
          c.error("'\(key)' applies only to a policy alias; '\(alias)' is pinned to a version", at: keyNode)
        }
      }
      return c.int(versionNode, "\(path).version", in: 1...Int.max).map { .pinned(version: $0) }
    }
    guard let policyNode = f["policy"] else {
      c.error("alias '\(alias)' needs 'version: N' (pinned) or 'policy: latest-passing'", at: node)
      return nil
    }
    guard let policy = c.string(policyNode, "\(path).policy") else { return nil }
    guard policy == "latest-passing" else {
      c.error("unknown policy '\(policy)' (supported: latest-passing)", at: policyNode)
      return nil
    }
    var rule = Model.LatestPassing(gates: [])
    if let n = f["gates"] {
      rule.gates =
        c.list(n, "\(path).gates") { item, itemPath in decodeGate(item, itemPath, alias: alias, c, refs: &refs) } ?? []
    }
    if let n = f["from"], let from = c.nonEmptyString(n, "\(path).from") {
      rule.from = from
      refs.append((alias, from, "\(path).from", n))
    }
    if let n = f["soak"] {
      rule.soak = c.duration(n, "\(path).soak")
      if rule.from == nil, let key = f.keyNode("soak") {
        c.error("'soak' needs 'from': it is how long a version must have held the 'from' alias", at: key)
      }
    }
    return .latestPassing(rule)
  }

  private static func decodeGate(
    _ node: YAMLNode, _ path: String, alias: String, _ c: DecodeContext,
    refs: inout [(alias: String, target: String, field: String, node: YAMLNode)]
  ) -> Model.Gate? {
    guard let f = Fields(node, path: path, allowed: ["metric", "min", "max", "beats", "margin"], context: c),
      let metricNode = f.required("metric"), let metric = c.nonEmptyString(metricNode, "\(path).metric")
    else { return nil }
    var gate = Model.Gate(metric: metric)
    if let n = f["min"] { gate.min = c.number(n, "\(path).min") }
    if let n = f["max"] { gate.max = c.number(n, "\(path).max") }
    if let n = f["beats"], let beats = c.nonEmptyString(n, "\(path).beats") {
      gate.beats = beats
      refs.append((alias, beats, "\(path).beats", n))
    }
    if let n = f["margin"] {
      gate.margin = c.number(n, "\(path).margin") ?? 0
      if gate.beats == nil, let key = f.keyNode("margin") {
        c.error("'margin' applies only with 'beats'", at: key)
      }
    }
    if f["min"] == nil, f["max"] == nil, f["beats"] == nil {
      c.error("gate on '\(metric)' needs 'min', 'max' or 'beats'", at: node)
    }
    if let lo = gate.min, let hi = gate.max, lo > hi, let n = f["min"] {
      c.error("gate on '\(metric)' can never pass: min \(lo) is above max \(hi)", at: n)
    }
    return gate
  }

  /// `from` must describe an order (staging → canary → production), never a loop.
  private static func checkPromotionCycle(
    _ aliases: [Model.Alias], _ fromNodes: [(String, YAMLNode)], _ c: DecodeContext
  ) {
    var from: [String: String] = [:]
    for alias in aliases {
      if case .latestPassing(let rule) = alias.target, let source = rule.from { from[alias.name] = source }
    }
    for (alias, node) in fromNodes {
      var seen: Set<String> = [alias]
      var current = from[alias]
      while let next = current {
        if next == alias, seen.count > 1 {
          let chain = seen.sorted().joined(separator: ", ")
          c.error("promotion order of alias '\(alias)' is a loop through 'from' (\(chain))", at: node)
          break
        }
        guard seen.insert(next).inserted else { break }
        current = from[next]
      }
    }
  }
}
