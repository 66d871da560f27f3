/// Decodes what the Ray runtime adds to manifests: a pipeline's `resources` and a deployment's
/// `ray` (the Serve application of each revision).
enum RayOptionsDecoder {
  /// `resources: {cpus, gpus, memory}` of a pipeline's steps.
  static func stepResources(_ node: YAMLNode, _ c: DecodeContext) -> RayResources? {
    guard let f = Fields(node, path: "spec.resources", allowed: ["cpus", "gpus", "memory"], context: c) else {
      return nil
    }
    var r = RayResources()
    if let n = f["cpus"] { r.cpus = amount(n, "spec.resources.cpus", allowZero: true, c) }
    if let n = f["gpus"] { r.gpus = amount(n, "spec.resources.gpus", allowZero: true, c) }
    if let n = f["memory"] { r.memory = c.size(n, "spec.resources.memory") }
    return r
  }

  /// `ray: {importPath, deployment, replicas | autoscaling, actorOptions}` of a deployment.
  static func serve(_ node: YAMLNode, _ c: DecodeContext) -> RayServeOptions? {
    let allowed = ["importPath", "deployment", "replicas", "autoscaling", "actorOptions"]
    guard let f = Fields(node, path: "spec.ray", allowed: allowed, context: c),
      let pathNode = f.required("importPath"), let importPath = c.nonEmptyString(pathNode, "spec.ray.importPath")
    else { return nil }
    guard isImportPath(importPath) else {
      c.error(
        "'spec.ray.importPath' must be MODULE:ATTRIBUTE of a bound Serve application "
          + "(e.g. serving.ray_app:app), got '\(importPath)'", at: pathNode)
      return nil
    }
    var options = RayServeOptions(importPath: importPath)
    if let n = f["deployment"] { options.deployment = c.nonEmptyString(n, "spec.ray.deployment") }
    if let n = f["replicas"] { options.replicas = c.int(n, "spec.ray.replicas", in: 1...1000) }
    if let n = f["autoscaling"],
      let a = Fields(n, path: "spec.ray.autoscaling", allowed: ["min", "max"], context: c),
      let low = a.required("min").flatMap({ c.int($0, "spec.ray.autoscaling.min", in: 0...1000) }),
      let high = a.required("max").flatMap({ c.int($0, "spec.ray.autoscaling.max", in: 1...1000) })
    {
      if low > high { c.error("'spec.ray.autoscaling.min' must not be above 'max'", at: n) }
      options.autoscaling = RayServeOptions.Autoscaling(min: low, max: high)
    }
    if f["replicas"] != nil, let n = f["autoscaling"] {
      c.error("'spec.ray' takes 'replicas' or 'autoscaling', not both", at: n)
    }
    if let n = f["actorOptions"],
      let a = Fields(n, path: "spec.ray.actorOptions", allowed: ["cpus", "gpus", "memory"], context: c)
    {
      var actor = RayResources()
      if let v = a["cpus"] { actor.cpus = amount(v, "spec.ray.actorOptions.cpus", allowZero: true, c) }
      if let v = a["gpus"] { actor.gpus = amount(v, "spec.ray.actorOptions.gpus", allowZero: true, c) }
      if let v = a["memory"] { actor.memory = c.size(v, "spec.ray.actorOptions.memory") }
      options.actorOptions = actor
    }
    let overrides = ["replicas", "autoscaling", "actorOptions"].compactMap { f[$0] }
    if options.deployment == nil, let first = overrides.first {
      c.error(
        "'spec.ray.deployment' is needed with replicas, autoscaling or actorOptions: "
          + "the name of the Serve deployment they apply to", at: first)
    }
    return options
  }

  /// `module.path:attribute`, as Serve's `import_path` takes it.
  static func isImportPath(_ text: String) -> Bool {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 2 else { return false }
    func identifiers(_ part: Substring) -> Bool {
      !part.isEmpty
        && part.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { name in
          guard let first = name.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
          return name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
        }
    }
    return identifiers(parts[0]) && identifiers(parts[1])
  }

  /// A count of CPUs or GPUs: a number or a decimal string ("0.5").
  static func amount(_ node: YAMLNode, _ field: String, allowZero: Bool, _ c: DecodeContext) -> Double? {
    let value: Double?
    if case .string(let text) = node.scalar?.resolved {
      value = Double(text) ?? .nan
    } else {
      value = c.number(node, field)
    }
    guard let value else { return nil }
    guard value.isFinite, allowZero ? value >= 0 : value > 0, value <= 4096 else {
      c.error("'\(field)' must be a number of \(allowZero ? "0 or more" : "positive") units such as 0.5 or 2", at: node)
      return nil
    }
    return value
  }
}
