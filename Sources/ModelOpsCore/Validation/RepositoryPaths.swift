/// The repository paths a pipeline reads (its `workdir`, its DVC pointers) must be paths of the
/// commit itself. A symlink on the way could lead anywhere on the agent's host (`escape ->
/// /srv/data`): training would run on files the commit does not hold, and the version's lineage
/// would name a commit it did not come from. Such a path is an error of the commit.
public enum RepositoryPaths {
  public static func check(_ manifests: ManifestSet, in tree: some ManifestTree) -> [Diagnostic] {
    var diagnostics: [Diagnostic] = []
    for (name, pipeline) in manifests.pipelines.sorted(by: { $0.key < $1.key }) {
      let location = manifests.locations[ResourceID(.pipeline, name)] ?? SourceLocation(path: "", line: 0, column: 0)
      var paths = [("spec.workdir", pipeline.spec.workdir)]
      for input in pipeline.spec.inputs {
        if case .dvc(let path) = input.source { paths.append(("spec.inputs \(input.name)", path)) }
      }
      for (field, path) in paths {
        guard let (link, target) = symlink(on: path, in: tree) else { continue }
        diagnostics.append(
          Diagnostic(
            .error, at: location,
            "pipeline \(name): '\(field)' (\(path)) goes through the symlink '\(link)' → '\(target)'; a path a "
              + "pipeline reads must be a folder or file of the commit itself, not a link (it could lead anywhere "
              + "on the agent's host)"))
      }
    }
    return diagnostics
  }

  /// The first symlink on `path` (its own path and target), if any.
  static func symlink(on path: String, in tree: some ManifestTree) -> (String, String)? {
    var prefix = ""
    for component in path.split(separator: "/") where component != "." && !component.isEmpty {
      prefix = prefix.isEmpty ? String(component) : prefix + "/" + component
      guard let kind = try? tree.entry(at: prefix) else { return nil }
      if case .symlink(let target) = kind { return (prefix, target) }
    }
    return nil
  }
}
