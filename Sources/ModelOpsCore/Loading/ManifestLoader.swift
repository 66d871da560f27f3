/// Limits on what one manifests tree may hold.
public struct LoadOptions: Sendable {
  /// Largest manifest file, in bytes (1 MiB).
  public var maxFileBytes = 1 << 20
  public var yaml = YAMLLimits()
  /// Symlinks followed one after another before giving up.
  public var maxSymlinkHops = 8
  /// The agent's runtime, when known (from agent.yaml): a deployment naming none must suit it
  /// (`image` for docker, `command` for process). nil: not checked (`agent validate` alone).
  public var defaultRuntime: Deployment.Runtime?
  /// Whether agent.yaml names a Ray cluster (`ray:`): without one, `runtime: ray` is an error.
  /// nil: not checked.
  public var rayConfigured: Bool?

  public init() {}
}

/// Every resource of a tree, or every reason it is invalid.
public struct LoadResult: Sendable {
  public var manifests: ManifestSet
  /// Sorted by path, line and column.
  public var diagnostics: [Diagnostic]
  /// The manifest files read, as displayed.
  public var files: [String]
  /// Whether a symlink led outside the loaded path: then that path's tree id alone does not
  /// identify what was read, and an unchanged id does not mean unchanged manifests.
  public var readOutsidePath = false

  /// Whether the tree may be applied: a single error makes the whole tree (the commit) invalid.
  public var isValid: Bool { !diagnostics.hasErrors }
}

/// Reads every manifest under a path of a tree: discovery, YAML, decoding, then references.
public enum ManifestLoader {
  /// Loads the manifests under `path` of `tree`.
  ///
  /// - Parameters:
  ///   - path: repo-relative folder (or single file) holding the manifests; `""` is the root.
  ///   - displayRoot: prefix shown before repo-relative paths in diagnostics (what the user typed).
  public static func load(
    from tree: some ManifestTree, path: String = "", displayRoot: String = "", options: LoadOptions = LoadOptions()
  ) -> LoadResult {
    var cache = ParseCache()
    return load(from: tree, path: path, displayRoot: displayRoot, options: options, cache: &cache)
  }

  /// Loads the manifests under `path` of `tree`, parsing only the files `cache` does not hold
  /// (by path and content id), and leaves in `cache` exactly the files of this load.
  /// Checks across files (duplicates, references, listen addresses) always run over every file.
  public static func load(
    from tree: some ManifestTree, path: String = "", displayRoot: String = "", options: LoadOptions = LoadOptions(),
    cache: inout ParseCache
  ) -> LoadResult {
    var discovery = Discovery(
      tree: tree, root: path, displayRoot: displayRoot, options: options, listings: cache.folders)
    discovery.run()
    cache.folders = discovery.listings
    let files = discovery.files
    let (outcomes, parsed) = decodeAll(files, tree: tree, options: options, cache: &cache)

    var diagnostics = discovery.diagnostics
    let (set, references, claims, declaredWithErrors) = merge(
      files, outcomes, parsed: parsed, cache: &cache, diagnostics: &diagnostics)
    diagnostics += ReferenceValidator.check(
      set, declaredWithErrors: declaredWithErrors, references: references, claims: claims)
    if let runtime = options.defaultRuntime { diagnostics += ReferenceValidator.runtimeFit(set, default: runtime) }
    if options.rayConfigured == false { diagnostics += ReferenceValidator.rayFit(set) }
    if files.isEmpty, discovery.diagnostics.isEmpty {
      let shown = display("", root: path, displayRoot: displayRoot)
      diagnostics.append(
        Diagnostic(
          .error, at: SourceLocation(path: shown, line: 0, column: 0),
          "no manifests (*.yaml, *.yml) found: an empty path is refused rather than read as 'delete everything'"))
    } else if set.count == 0, !diagnostics.hasErrors {
      diagnostics.append(
        Diagnostic(
          .error, at: SourceLocation(path: display("", root: path, displayRoot: displayRoot), line: 0, column: 0),
          "the manifest files hold no resources: an empty path is refused rather than read as 'delete everything'"))
    }
    return LoadResult(
      manifests: set, diagnostics: diagnostics.sortedForDisplay(), files: files.map(\.display),
      readOutsidePath: discovery.leftRoot)
  }

  /// How a path relative to the manifests root is shown: under `displayRoot` when given
  /// (what the user typed), else as a repo-relative path.
  static func display(_ relative: String, root: String, displayRoot: String) -> String {
    let base = displayRoot.isEmpty ? root : displayRoot
    if relative.isEmpty { return base.isEmpty ? "." : base }
    if base.isEmpty || base == "." { return relative }
    return base.hasSuffix("/") ? base + relative : "\(base)/\(relative)"
  }
}
