import Foundation

extension PlanningContext {
  /// Move each alias to the version git pins, or to the newest version its policy accepts.
  mutating func planAliases() {
    for name in manifests.models.keys.sorted() {
      guard let model = manifests.models[name] else { continue }
      let seen = observed.models[name] ?? ObservedModel()
      for alias in model.spec.aliases {
        switch alias.target {
        case .pinned(let version): planPinned(model: name, alias: alias.name, version: version, seen)
        case .latestPassing(let rule): planPolicy(model: name, alias: alias.name, rule: rule, spec: model.spec, seen)
        }
      }
      for alias in seen.aliasHistory.keys.sorted() where model.spec.alias(named: alias) == nil {
        guard let current = seen.current(alias) else { continue }
        actions.append(
          Action(
            .demote, ResourceID(.model, name), key: alias, reason: "alias '\(alias)' was removed from the manifest",
            from: "\(alias)=v\(current)"))
      }
    }
  }

  private mutating func planPinned(model: String, alias: String, version: Int, _ seen: ObservedModel) {
    let id = ResourceID(.model, model)
    let current = seen.current(alias)
    guard current != version else { return }
    if seen.version(version) != nil {
      var action = Action(
        .promote, id, key: alias, reason: "alias '\(alias)' is pinned to version \(version) in git",
        from: current.map { "\(alias)=v\($0)" }, to: "\(alias)=v\(version)")
      action.version = version
      record(model, alias, PlannedAlias(version: version, label: "v\(version)", actionID: action.id))
      actions.append(action)
    } else if let register = registrations[model], register.to == "v\(version)" {
      let action = Action(
        .promote, id, key: alias, reason: "alias '\(alias)' is pinned to version \(version), which the run registers",
        from: current.map { "\(alias)=v\($0)" }, to: "\(alias)=v\(version)", dependsOn: [register.id])
      record(model, alias, PlannedAlias(version: nil, label: "v\(version)", actionID: action.id))
      actions.append(action)
    } else {
      actions.append(
        Action(
          .hold, id, key: alias,
          reason: "alias '\(alias)' is pinned to version \(version), which is not in the registry",
          from: current.map { "\(alias)=v\($0)" }, to: "\(alias)=v\(version)"))
    }
  }

  private mutating func planPolicy(
    model: String, alias: String, rule: Model.LatestPassing, spec: Model.Spec, _ seen: ObservedModel
  ) {
    let id = ResourceID(.model, model)
    let current = seen.current(alias)
    // A version a planned run registers can take the alias at once only without a promotion order.
    if let register = registrations[model], rule.from == nil {
      let gates = rule.gates.isEmpty ? "" : " if it passes \(describe(rule.gates))"
      let action = Action(
        .promote, id, key: alias, reason: "policy latest-passing: the newly registered version\(gates)",
        from: current.map { "\(alias)=v\($0)" }, to: "\(alias)=\(register.to ?? "new")", dependsOn: [register.id])
      record(model, alias, PlannedAlias(version: nil, label: register.to ?? "new", actionID: action.id))
      actions.append(action)
      return
    }
    guard let chosen = candidate(rule, spec: spec, seen), chosen.version != current else { return }
    var reason = "policy latest-passing: newest version passing \(describe(rule.gates))"
    if let from = rule.from {
      reason += ", having held '\(from)'" + (rule.soak.map { " for at least \($0)" } ?? "")
    }
    var action = Action(
      .promote, id, key: alias, reason: reason, from: current.map { "\(alias)=v\($0)" },
      to: "\(alias)=v\(chosen.version)")
    action.version = chosen.version
    record(model, alias, PlannedAlias(version: chosen.version, label: "v\(chosen.version)", actionID: action.id))
    actions.append(action)
  }

  /// The newest version that is not rejected, passes every gate and respects `from` and `soak`.
  private func candidate(_ rule: Model.LatestPassing, spec: Model.Spec, _ seen: ObservedModel) -> ModelVersion? {
    AliasPolicy.candidate(rule, seen, now: now)
  }

  private func describe(_ gates: [Model.Gate]) -> String {
    guard !gates.isEmpty else { return "no gates" }
    return gates.map { gate in
      var parts: [String] = []
      if let min = gate.min { parts.append("\(gate.metric) ≥ \(formatNumber(min))") }
      if let max = gate.max { parts.append("\(gate.metric) ≤ \(formatNumber(max))") }
      if let beats = gate.beats {
        parts.append("\(gate.metric) beats '\(beats)'" + (gate.margin != 0 ? " by \(formatNumber(gate.margin))" : ""))
      }
      return parts.joined(separator: ", ")
    }.joined(separator: ", ")
  }

  private mutating func record(_ model: String, _ alias: String, _ planned: PlannedAlias) {
    plannedAliases[model, default: [:]][alias] = planned
  }
}

/// `50` rather than `50.0`; other numbers as Swift prints them.
func formatNumber(_ value: Double) -> String {
  value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}
