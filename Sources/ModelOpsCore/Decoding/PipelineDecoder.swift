import Foundation

/// Decodes a Pipeline's spec: inputs, steps, triggers, retries and timeouts.
enum PipelineDecoder {
  static func decode(_ node: YAMLNode, name: String, _ c: DecodeContext) -> Pipeline.Spec? {
    let allowed = [
      "model", "workdir", "image", "runtime", "resources", "params", "inputs", "steps", "triggers", "retries",
      "timeout",
    ]
    guard let f = Fields(node, path: "spec", allowed: allowed, context: c) else { return nil }
    var spec = Pipeline.Spec(model: "", steps: [])
    if let n = f.required("model"), let model = c.nonEmptyString(n, "spec.model") {
      spec.model = model
      c.references.append(
        Reference(kind: .model, name: model, field: "spec.model", requirement: .exists, location: c.location(n)))
    }
    if let n = f["workdir"], let dir = c.nonEmptyString(n, "spec.workdir") {
      if let normal = Names.repoRelative(dir) {
        spec.workdir = normal
      } else {
        c.error("'spec.workdir' must be a path inside the repository, got '\(dir)'", at: n)
      }
    }
    if let n = f["image"] { spec.image = c.imageReference(n, "spec.image") }
    if let n = f["params"] {
      var suffixes: [String: String] = [:]
      spec.params =
        c.stringMap(n, "spec.params") { key, keyNode in
          unique(variable: key, kind: "param", keyNode, &suffixes, c)
        } ?? [:]
    }
    if let n = f["inputs"] { spec.inputs = decodeInputs(n, c) }
    if let n = f.required("steps") {
      spec.steps = decodeSteps(n, c)
      if case .sequence(let items) = n.content, items.isEmpty {
        c.error("'spec.steps' needs at least one step", at: n)
      }
    }
    if let n = f["triggers"] { spec.triggers = decodeTriggers(n, c) ?? spec.triggers }
    if let n = f["retries"] { spec.retries = c.int(n, "spec.retries", in: 0...10) ?? 0 }
    if let n = f["timeout"] { spec.timeout = c.duration(n, "spec.timeout") }
    if let n = f["runtime"] { spec.runtime = c.oneOf(n, "spec.runtime", Deployment.Runtime.allCases) }
    if let n = f["resources"] { spec.resources = RayOptionsDecoder.stepResources(n, c) }
    checkRuntime(spec, f, node, c)
    return spec
  }

  /// What each runtime needs and refuses: docker runs `image`; a Ray job runs in the cluster's
  /// Python environment, reads no host path (no shared disk) and is the only one with `resources`.
  private static func checkRuntime(_ spec: Pipeline.Spec, _ f: Fields, _ node: YAMLNode, _ c: DecodeContext) {
    switch spec.runtime {
    case .docker where f["image"] == nil:
      c.error("'spec.runtime: docker' needs 'spec.image'", at: node)
    case .process where f["image"] != nil:
      c.error("'spec.image' is for runtime docker; this pipeline says 'runtime: process'", at: f["image"] ?? node)
    case .ray:
      if let n = f["image"] {
        c.error(
          "'spec.image' is not used with 'runtime: ray': steps run in the Ray nodes' Python environment "
            + "(put packages in the cluster's image)", at: n)
      }
      for input in spec.inputs {
        if case .hostPath(let path) = input.source {
          c.error(
            "input '\(input.name)': the host path \(path) is not on the Ray nodes (no shared disk); "
              + "use a 'dvc' input or data the cluster can read", at: f["inputs"] ?? node)
        }
      }
    default:
      if let n = f["resources"] {
        c.error("'spec.resources' is for 'runtime: ray' (the resources each step's Ray job asks for)", at: n)
      }
    }
  }

  /// Params and inputs become `MODELOPS_PARAM_<NAME>` variables: names must fit and not collide.
  private static func unique(
    variable name: String, kind: String, _ node: YAMLNode, _ seen: inout [String: String], _ c: DecodeContext
  ) -> Bool {
    guard Names.isVariableSuffix(name) else {
      c.error("\(kind) name '\(name)' must be letters, digits, '_' or '-', not starting with a digit", at: node)
      return false
    }
    let suffix = Names.variableSuffix(name)
    if let other = seen[suffix] {
      c.error("\(kind) '\(name)' and '\(other)' both become MODELOPS_\(kind.uppercased())_\(suffix)", at: node)
      return false
    }
    seen[suffix] = name
    return true
  }

  private static func decodeInputs(_ node: YAMLNode, _ c: DecodeContext) -> [Pipeline.Input] {
    var suffixes: [String: String] = [:]
    return c.list(node, "spec.inputs") { item, path in
      guard let f = Fields(item, path: path, allowed: ["name", "path", "dvc"], context: c),
        let nameNode = f.required("name"), let name = c.nonEmptyString(nameNode, "\(path).name"),
        unique(variable: name, kind: "input", nameNode, &suffixes, c)
      else { return nil }
      switch (f["path"], f["dvc"]) {
      case (let p?, nil):
        guard let hostPath = c.nonEmptyString(p, "\(path).path") else { return nil }
        guard hostPath.hasPrefix("/") else {
          c.error("'\(path).path' must be an absolute path on the agent's host, got '\(hostPath)'", at: p)
          return nil
        }
        return Pipeline.Input(name: name, source: .hostPath(hostPath))
      case (nil, let d?):
        guard let pointer = c.nonEmptyString(d, "\(path).dvc") else { return nil }
        guard let normal = Names.repoRelative(pointer) else {
          c.error("'\(path).dvc' must be a path inside the repository, got '\(pointer)'", at: d)
          return nil
        }
        guard normal.hasSuffix(".dvc") else {
          c.error("'\(path).dvc' must name a DVC pointer file ending in .dvc, got '\(pointer)'", at: d)
          return nil
        }
        return Pipeline.Input(name: name, source: .dvc(normal))
      case (_?, _?):
        c.error("input '\(name)' has both 'path' and 'dvc': give one", at: item)
      case (nil, nil):
        c.error("input '\(name)' needs 'path' (a host file or folder) or 'dvc' (a pointer file in the repo)", at: item)
      }
      return nil
    } ?? []
  }

  private static func decodeSteps(_ node: YAMLNode, _ c: DecodeContext) -> [Pipeline.Step] {
    var names: [String: Int] = [:]
    return c.list(node, "spec.steps") { item, path in
      guard let f = Fields(item, path: path, allowed: ["name", "run", "command", "env", "timeout"], context: c),
        let nameNode = f.required("name"), let name = c.nonEmptyString(nameNode, "\(path).name")
      else { return nil }
      guard Names.isDNSLabel(name) else {
        c.error("step name '\(name)' is not valid: \(Names.dnsLabelRule)", at: nameNode)
        return nil
      }
      if let line = names[name] {
        c.error("duplicate step name '\(name)' (first given at line \(line))", at: nameNode)
        return nil
      }
      names[name] = nameNode.line
      let command: Pipeline.Step.Command
      switch (f["run"], f["command"]) {
      case (let r?, nil):
        guard let script = c.nonEmptyString(r, "\(path).run") else { return nil }
        command = .shell(script)
      case (nil, let x?):
        guard let argv = c.stringList(x, "\(path).command") else { return nil }
        guard !argv.isEmpty else {
          c.error("'\(path).command' must not be empty", at: x)
          return nil
        }
        command = .exec(argv)
      case (_?, _?):
        c.error("step '\(name)' has both 'run' and 'command': give one", at: item)
        return nil
      case (nil, nil):
        c.error("step '\(name)' needs 'run' (a shell line) or 'command' (a list of arguments)", at: item)
        return nil
      }
      var step = Pipeline.Step(name: name, command: command)
      if let n = f["env"] { step.env = EnvRules.decode(n, "\(path).env", c) }
      if let n = f["timeout"] { step.timeout = c.duration(n, "\(path).timeout") }
      return step
    } ?? []
  }

  private static func decodeTriggers(_ node: YAMLNode, _ c: DecodeContext) -> Pipeline.Triggers? {
    let allowed = ["onSpecChange", "onInputChange", "schedule", "timezone", "onAlert"]
    guard let f = Fields(node, path: "spec.triggers", allowed: allowed, context: c) else { return nil }
    var t = Pipeline.Triggers()
    if let n = f["onSpecChange"] { t.onSpecChange = c.bool(n, "spec.triggers.onSpecChange") ?? true }
    if let n = f["onInputChange"] { t.onInputChange = c.bool(n, "spec.triggers.onInputChange") ?? true }
    if let n = f["schedule"], let text = c.nonEmptyString(n, "spec.triggers.schedule") {
      switch CronSchedule.parse(text) {
      case .success(let s): t.schedule = s
      case .failure(let e): c.error(e.message, at: n)
      }
    }
    if let n = f["timezone"], let zone = c.nonEmptyString(n, "spec.triggers.timezone") {
      if TimeZone(identifier: zone) == nil {
        c.error("unknown time zone '\(zone)' (use an IANA name such as Europe/Paris or UTC)", at: n)
      } else {
        t.timezone = zone
      }
      if t.schedule == nil, let key = f.keyNode("timezone") {
        c.error("'timezone' applies only with 'schedule'", at: key)
      }
    }
    if let n = f["onAlert"] { t.onAlert = c.referenceList(n, "spec.triggers.onAlert", to: .monitor) }
    return t
  }
}

/// Environment maps given to steps and replicas: valid names, none that the agent sets itself.
enum EnvRules {
  static func decode(_ node: YAMLNode, _ field: String, _ c: DecodeContext) -> [String: String] {
    c.stringMap(node, field) { key, keyNode in
      guard Names.isEnvName(key) else {
        c.error("'\(key)' is not a valid environment variable name", at: keyNode)
        return false
      }
      if key.hasPrefix("MODELOPS_") || key == "PORT" {
        c.error("'\(key)' is set by the agent and cannot be overridden in '\(field)'", at: keyNode)
        return false
      }
      return true
    } ?? [:]
  }
}
