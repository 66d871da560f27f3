/// Decodes `spec.strategy`: the type, and only the fields that type uses.
enum StrategyDecoder {
  /// The fields each strategy type accepts besides `type`.
  static let fieldsByType: [String: [String]] = [
    "recreate": [],
    "rolling": ["maxSurge", "maxUnavailable"],
    "bluegreen": ["previewListen", "autoPromote"],
    "canary": ["steps", "match", "sticky", "compare"],
  ]
  static let typeNames = ["recreate", "rolling", "bluegreen", "canary"]

  static func decode(_ node: YAMLNode, deployment: String, _ c: DecodeContext) -> Deployment.Strategy? {
    let allowed = ["type"] + typeNames.flatMap { fieldsByType[$0] ?? [] }
    guard let f = Fields(node, path: "spec.strategy", allowed: allowed, context: c),
      let typeNode = f.required("type"), let type = c.string(typeNode, "spec.strategy.type")
    else { return nil }
    guard let own = fieldsByType[type] else {
      let hint = suggestion(for: type, among: typeNames).map { "did you mean '\($0)'?" }
      let message = "unknown strategy type '\(type)' (\(hint ?? "expected recreate, rolling, bluegreen or canary"))"
      c.error(message, at: typeNode)
      return nil
    }
    var misfit = false
    for key in f.presentKeys.sorted() where key != "type" && !own.contains(key) {
      let owner = typeNames.first { fieldsByType[$0]?.contains(key) == true } ?? "?"
      if let keyNode = f.keyNode(key) {
        c.error("'\(key)' applies only to strategy type '\(owner)', not '\(type)'", at: keyNode)
      }
      misfit = true
    }
    let strategy = decodeFields(of: type, f, node: node, deployment: deployment, c)
    return misfit ? nil : strategy
  }

  private static func decodeFields(
    of type: String, _ f: Fields, node: YAMLNode, deployment: String, _ c: DecodeContext
  ) -> Deployment.Strategy? {
    switch type {
    case "recreate":
      return .recreate
    case "rolling":
      let surge = f["maxSurge"].map { c.int($0, "spec.strategy.maxSurge", in: 0...1000) } ?? 1
      let unavailable = f["maxUnavailable"].map { c.int($0, "spec.strategy.maxUnavailable", in: 0...1000) } ?? 0
      guard let surge, let unavailable else { return nil }
      if surge == 0, unavailable == 0 {
        c.error("'maxSurge' and 'maxUnavailable' cannot both be 0: the rollout could never progress", at: node)
        return nil
      }
      return .rolling(maxSurge: surge, maxUnavailable: unavailable)
    case "bluegreen":
      let preview = f["previewListen"].flatMap {
        DeploymentDecoder.decodeListen($0, "spec.strategy.previewListen", deployment: deployment, c)
      }
      let auto = f["autoPromote"].map { c.bool($0, "spec.strategy.autoPromote") } ?? true
      return .blueGreen(previewListen: preview, autoPromote: auto ?? true)
    default:
      guard let stepsNode = f.required("steps") else { return nil }
      let steps = decodeCanarySteps(stepsNode, c)
      let match = f["match"].map { TrafficRulesDecoder.decodeMatches($0, c) } ?? []
      let stickyNode = f["sticky"]
      let sticky = stickyNode.flatMap { TrafficRulesDecoder.decodeKey($0, "spec.strategy.sticky", c) }
      let compareNode = f["compare"]
      let compare = compareNode.flatMap { TrafficRulesDecoder.decodeComparison($0, c) }
      guard let steps, let match, stickyNode == nil || sticky != nil, compareNode == nil || compare != nil else {
        return nil
      }
      if compareNode != nil, !steps.contains(where: { $0.mirror > 0 }), let key = f.keyNode("compare") {
        c.error(
          "'compare' judges a mirror step's answers, and no step mirrors (add {mirror: PERCENT, pause: …})", at: key)
        return nil
      }
      return .canary(
        steps: steps, routing: CanaryRouting(match: match, sticky: sticky, compare: compare ?? AnswerComparison()))
    }
  }

  /// Weights in percent from 1 to 100, strictly increasing, each held for `pause`; mirror steps
  /// (`mirror: PERCENT`, the share of requests copied to the new version) come before them.
  private static func decodeCanarySteps(_ node: YAMLNode, _ c: DecodeContext) -> [Deployment.CanaryStep]? {
    var previous: (weight: Int, line: Int)?
    let steps = c.list(node, "spec.strategy.steps") { item, path -> Deployment.CanaryStep? in
      guard let f = Fields(item, path: path, allowed: ["weight", "mirror", "pause"], context: c),
        let (kind, valueNode) = f.exactlyOne(of: ["weight", "mirror"]),
        let value = c.int(valueNode, "\(path).\(kind)", in: 1...100)
      else { return nil }
      if kind == "mirror", let previous {
        c.error(
          "a mirror step must come before the weight steps: clients already get the new version's answers "
            + "from line \(previous.line)", at: valueNode)
      } else if kind == "weight", let previous, value <= previous.weight {
        c.error(
          "canary weights must increase: \(value) after \(previous.weight) (line \(previous.line))", at: valueNode)
      }
      if kind == "weight" { previous = (value, valueNode.line) }
      let pause =
        f["pause"].map { c.duration($0, "\(path).pause", allowZero: true) } ?? ManifestDuration(milliseconds: 0)
      return pause.map {
        kind == "mirror"
          ? Deployment.CanaryStep(weight: 0, pause: $0, mirror: value) : Deployment.CanaryStep(weight: value, pause: $0)
      }
    }
    if let steps, steps.isEmpty, case .sequence(let items) = node.content, items.isEmpty {
      c.error("'spec.strategy.steps' needs at least one step", at: node)
      return nil
    }
    return steps
  }
}
