/// Checks what no single document can: names that must match other resources of the same commit,
/// and endpoints that two deployments may not share.
enum ReferenceValidator {
  /// - Parameter declaredWithErrors: resources whose own errors are already reported; a
  ///   reference to one is not an error of its own.
  static func check(
    _ set: ManifestSet, declaredWithErrors: Set<ResourceID>, references: [Reference], claims: [ListenClaim]
  ) -> [Diagnostic] {
    var diagnostics: [Diagnostic] = []
    func fail(_ message: String, _ location: SourceLocation) {
      diagnostics.append(Diagnostic(.error, at: location, message))
    }
    for ref in references {
      let id = ResourceID(ref.kind, ref.name)
      guard set.contains(id) else {
        if declaredWithErrors.contains(id) { continue }
        var message = "'\(ref.field)' refers to \(ref.kind.rawValue) '\(ref.name)', which is not declared"
        if let hint = suggestion(for: ref.name, among: names(of: ref.kind, in: set)) {
          message += " (did you mean '\(hint)'?)"
        }
        fail(message, ref.location)
        continue
      }
      switch ref.requirement {
      case .exists:
        break
      case .modelHasAlias(let alias):
        guard let model = set.models[ref.name], model.spec.alias(named: alias) == nil else { break }
        let declared = model.spec.aliases.map(\.name)
        var message = "model '\(ref.name)' has no alias '\(alias)'"
        message += declared.isEmpty ? "" : " (it declares \(declared.map { "'\($0)'" }.joined(separator: ", ")))"
        fail(message, ref.location)
      case .pipelineTrains(let model):
        if let pipeline = set.pipelines[ref.name], pipeline.spec.model != model {
          fail("pipeline '\(ref.name)' trains model '\(pipeline.spec.model)', not '\(model)'", ref.location)
        }
      case .monitorWatches(let deployment):
        if let monitor = set.monitors[ref.name], monitor.spec.deployment != deployment {
          fail(
            "monitor '\(ref.name)' watches deployment '\(monitor.spec.deployment)', so it cannot analyse '\(deployment)'",
            ref.location)
        }
      }
    }
    diagnostics += listenClashes(claims)
    return diagnostics
  }

  /// Deployments that name no runtime run on the agent's: each must have what that one needs.
  static func runtimeFit(_ set: ManifestSet, default runtime: Deployment.Runtime) -> [Diagnostic] {
    var diagnostics: [Diagnostic] = []
    for (name, deployment) in set.deployments.sorted(by: { $0.key < $1.key }) where deployment.spec.runtime == nil {
      guard let location = set.locations[ResourceID(.deployment, name)] else { continue }
      switch runtime {
      case .docker where deployment.spec.image == nil:
        diagnostics.append(
          Diagnostic(
            .error, at: location,
            "deployment '\(name)' runs on the agent's docker runtime and has no 'image' (or set 'runtime: process')"))
      case .process where deployment.spec.command == nil:
        diagnostics.append(
          Diagnostic(
            .error, at: location,
            "deployment '\(name)' runs on the agent's process runtime and has no 'command' (or set 'runtime: docker')"))
      default:
        break
      }
    }
    return diagnostics
  }

  /// `runtime: ray` where agent.yaml names no Ray cluster.
  static func rayFit(_ set: ManifestSet) -> [Diagnostic] {
    let pipelines = set.pipelines.filter { $0.value.spec.runtime == .ray }.map {
      (ResourceID(.pipeline, $0.key), "pipeline")
    }
    let deployments = set.deployments.filter { $0.value.spec.runtime == .ray }.map {
      (ResourceID(.deployment, $0.key), "deployment")
    }
    return (pipelines + deployments).sorted { $0.0.name < $1.0.name }.compactMap { id, kind in
      set.locations[id].map {
        Diagnostic(
          .error, at: $0,
          "\(kind) '\(id.name)' has 'runtime: ray', and agent.yaml names no Ray cluster ('ray: {address}')")
      }
    }
  }

  private static func names(of kind: ResourceKind, in set: ManifestSet) -> [String] {
    set.locations.keys.filter { $0.kind == kind }.map(\.name).sorted()
  }

  /// Two endpoints clash on the same port when their hosts are equal or either is a wildcard.
  /// Each claim is compared with the earlier claims of its port only (not every earlier claim).
  private static func listenClashes(_ claims: [ListenClaim]) -> [Diagnostic] {
    let wildcards: Set<String> = ["0.0.0.0", "::", "*"]
    var earlierByPort: [Int: [ListenClaim]] = [:]
    var result: [Diagnostic] = []
    for claim in claims.sorted(by: { $0.location < $1.location }) {
      let earlier = earlierByPort[claim.address.port]?.first { other in
        other.address.host == claim.address.host || wildcards.contains(other.address.host)
          || wildcards.contains(claim.address.host)
      }
      earlierByPort[claim.address.port, default: []].append(claim)
      if let earlier {
        result.append(
          Diagnostic(
            .error, at: claim.location,
            "'\(claim.field)' \(claim.address) is already used by deployment '\(earlier.deployment)' (\(earlier.location))"
          ))
      }
    }
    return result
  }
}
