/// Decodes one YAML document into a resource: `apiVersion`, `kind`, `metadata`, then the kind's spec.
enum DocumentDecoder {
  /// The resource, with the location of its `metadata.name`; nil when the document has errors.
  static func decode(_ root: YAMLNode, _ c: DecodeContext) -> (Manifest, SourceLocation)? {
    let before = c.errorCount
    guard case .mapping = root.content else {
      c.error(
        "a manifest must be a mapping with apiVersion, kind, metadata and spec; got \(root.typeDescription)", at: root)
      return nil
    }
    if case .mapping(let pairs) = root.content,
      !pairs.contains(where: { ["apiVersion", "kind"].contains($0.key.scalar?.value ?? "") })
    {
      c.error(
        "not a ModelOps manifest: no apiVersion or kind (list the file in .modelopsignore if another tool owns it)",
        at: root)
      return nil
    }
    guard let f = Fields(root, path: "", allowed: ["apiVersion", "kind", "metadata", "spec"], context: c)
    else { return nil }
    // Only an unknown kind or version stops here: any other error (a misspelled field) leaves the
    // rest of the document to be checked, so that every error of it is reported at once.
    let header = c.errorCount
    if let node = f.required("apiVersion"), let version = c.string(node, "apiVersion"),
      version != manifestAPIVersion
    {
      c.error("unsupported apiVersion '\(version)' (expected '\(manifestAPIVersion)')", at: node)
    }
    var kind: ResourceKind?
    if let node = f.required("kind"), let text = c.string(node, "kind") {
      kind = ResourceKind(rawValue: text)
      if kind == nil {
        var message = "unknown kind '\(text)' (expected Model, Pipeline, Deployment or Monitor)"
        if let hint = suggestion(for: text, among: ResourceKind.allCases.map(\.rawValue)) {
          message = "unknown kind '\(text)' (did you mean '\(hint)'?)"
        }
        c.error(message, at: node)
      }
    }
    // Without a known kind and version the spec's errors would only be noise.
    guard let kind, c.errorCount == header else { return nil }

    let metadataNode = f.required("metadata")
    let metadata = metadataNode.flatMap { decodeMetadata($0, c) }
    if metadataNode == nil, let name = misspelledName(root) {
      // `metdata: {name: x}`: x is declared (with errors), so references to it do not fail too.
      c.declaredWithErrors.append(ResourceID(kind, name))
    }
    guard let specNode = f.required("spec") else { return nil }
    let meta = metadata?.0 ?? ObjectMeta(name: "")
    let manifest: Manifest?
    switch kind {
    case .model:
      manifest = ModelDecoder.decode(specNode, name: meta.name, c).map { .model(Model(metadata: meta, spec: $0)) }
    case .pipeline:
      manifest = PipelineDecoder.decode(specNode, name: meta.name, c).map {
        .pipeline(Pipeline(metadata: meta, spec: $0))
      }
    case .deployment:
      manifest = DeploymentDecoder.decode(specNode, name: meta.name, c).map {
        .deployment(Deployment(metadata: meta, spec: $0))
      }
    case .monitor:
      manifest = MonitorDecoder.decode(specNode, name: meta.name, c).map { .monitor(Monitor(metadata: meta, spec: $0)) }
    }
    guard let manifest, let metadata, c.errorCount == before else {
      if let metadata { c.declaredWithErrors.append(ResourceID(kind, metadata.0.name)) }
      return nil
    }
    return (manifest, metadata.1)
  }

  /// The name under a misspelled `metadata` key (one whose closest field is `metadata`).
  private static func misspelledName(_ root: YAMLNode) -> String? {
    guard case .mapping(let pairs) = root.content else { return nil }
    for pair in pairs {
      guard let key = pair.key.scalar?.value, key != "metadata",
        suggestion(for: key, among: ["apiVersion", "kind", "metadata", "spec"]) == "metadata",
        case .mapping(let fields) = pair.value.content,
        let name = fields.first(where: { $0.key.scalar?.value == "name" })?.value.scalar?.value
      else { continue }
      return name
    }
    return nil
  }

  private static func decodeMetadata(_ node: YAMLNode, _ c: DecodeContext) -> (ObjectMeta, SourceLocation)? {
    guard let f = Fields(node, path: "metadata", allowed: ["name", "labels", "annotations"], context: c),
      let nameNode = f.required("name"), let name = c.string(nameNode, "metadata.name")
    else { return nil }
    guard Names.isDNSLabel(name) else {
      c.error("metadata.name '\(name)' is not a valid name: \(Names.dnsLabelRule)", at: nameNode)
      return nil
    }
    var meta = ObjectMeta(name: name)
    if let labels = f["labels"] { meta.labels = c.stringMap(labels, "metadata.labels") ?? [:] }
    if let annotations = f["annotations"] {
      meta.annotations = c.stringMap(annotations, "metadata.annotations") ?? [:]
    }
    return (meta, c.location(nameNode))
  }
}
