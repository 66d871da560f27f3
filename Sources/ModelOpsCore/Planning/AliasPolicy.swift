import Foundation

/// A `latest-passing` policy judging one version: which gate (or promotion order) it fails, in
/// words, so that `status`, `models` and the plan can say why a version was not promoted.
public enum AliasPolicy {
  /// Why `version` cannot take the alias (nil: it can): rejected, a gate's metric missing or out
  /// of bounds, or not held the `from` alias long enough.
  public static func failure(
    of version: ModelVersion, _ rule: Model.LatestPassing, _ seen: ObservedModel, now: Date
  ) -> String? {
    if version.rejected { return "rejected" }
    for gate in rule.gates {
      if let reason = failure(of: gate, version, seen) { return reason }
    }
    guard let from = rule.from else { return nil }
    let tenures = (seen.aliasHistory[from] ?? []).filter { $0.version == version.version }
    guard !tenures.isEmpty else { return "has not held '\(from)'" }
    let soak = Double(rule.soak?.milliseconds ?? 0) / 1000
    if tenures.contains(where: { ($0.until ?? now).timeIntervalSince($0.since) >= soak }) { return nil }
    return "has not held '\(from)' for \(rule.soak?.description ?? "0s") yet"
  }

  /// Why `version` fails one gate (nil: it passes).
  static func failure(of gate: Model.Gate, _ version: ModelVersion, _ seen: ObservedModel) -> String? {
    guard let value = version.metrics[gate.metric] else { return "has no metric '\(gate.metric)'" }
    if let min = gate.min, value < min {
      return "\(gate.metric) \(formatNumber(value)) is below the gate's min \(formatNumber(min))"
    }
    if let max = gate.max, value > max {
      return "\(gate.metric) \(formatNumber(value)) is above the gate's max \(formatNumber(max))"
    }
    if let other = gate.beats {
      guard let otherVersion = seen.current(other).flatMap(seen.version), otherVersion.version != version.version,
        let otherValue = otherVersion.metrics[gate.metric]
      else { return "'\(other)' has no version with '\(gate.metric)' to beat" }
      if value < otherValue + gate.margin {
        return "\(gate.metric) \(formatNumber(value)) does not beat '\(other)' (v\(otherVersion.version), "
          + "\(formatNumber(otherValue))" + (gate.margin != 0 ? " + \(formatNumber(gate.margin))" : "") + ")"
      }
    }
    return nil
  }

  /// The newest version that passes (nil: none does).
  static func candidate(_ rule: Model.LatestPassing, _ seen: ObservedModel, now: Date) -> ModelVersion? {
    seen.versions.filter { failure(of: $0, rule, seen, now: now) == nil }.max { $0.version < $1.version }
  }

  /// A version a policy did not take, and why.
  public struct HeldBack: Sendable, Hashable {
    public var version: Int
    public var reason: String

    /// `v5 accuracy 0.938 is below the gate's min 0.99`.
    public var description: String { "v\(version) \(reason)" }
  }

  /// For each `latest-passing` alias of `model`, the newest version above the alias's own that
  /// it did not take, and why.
  public static func heldBack(_ model: Model, _ seen: ObservedModel, now: Date) -> [String: HeldBack] {
    var held: [String: HeldBack] = [:]
    for alias in model.spec.aliases {
      guard case .latestPassing(let rule) = alias.target else { continue }
      let current = seen.current(alias.name) ?? 0
      guard
        let newest = seen.versions.filter({ $0.version > current && !$0.rejected }).max(by: { $0.version < $1.version }
        ),
        let reason = failure(of: newest, rule, seen, now: now)
      else { continue }
      held[alias.name] = HeldBack(version: newest.version, reason: reason)
    }
    return held
  }
}
