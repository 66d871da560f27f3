import ModelOpsCore

/// Reads the desired state of a commit, and remembers what it parsed: a commit whose manifests
/// folder has the same tree id is not loaded again, and one that changes a few files re-parses
/// only those (by blob id), the checks across files still running over the whole set.
/// Not thread-safe: one reader belongs to one loop (the agent's poll cycle).
public final class ManifestReader {
  private var cached: (tree: ObjectID, result: LoadResult)?
  private var files = ParseCache()
  private var digests = PathDigests()
  /// How many times manifests were actually loaded (a no-change cycle leaves it alone).
  public private(set) var parses = 0
  /// Manifest files parsed, over every load (an unchanged file is parsed once).
  public private(set) var filesParsed = 0
  /// Files the last load parsed, and files it took from the cache.
  public var lastLoad: (parsed: Int, reused: Int) { (files.lastParsed, files.lastReused) }
  /// Folders the last load took from the one before rather than walk again (unchanged tree ids).
  public var lastFoldersReused: Int { files.folders.lastReused }
  public let path: String
  public let options: LoadOptions

  /// - Parameter path: repo-relative folder of the manifests (`""`: the repository root).
  public init(path: String, options: LoadOptions = LoadOptions()) {
    self.path = path
    self.options = options
  }

  /// The manifests at a commit, loaded or taken from the cache.
  public func load(_ tree: GitTree) -> LoadResult {
    let id = try? tree.objectID(at: path)
    if let id, let cached, cached.tree == id { return Self.checkingPaths(cached.result, tree) }
    parses += 1
    cached = nil
    let result = ManifestLoader.load(from: tree, path: path, options: options, cache: &files)
    filesParsed += files.lastParsed
    cached = result.readOutsidePath ? nil : id.map { (tree: $0, result: result) }
    return Self.checkingPaths(result, tree)
  }

  /// The paths pipelines read lie outside the manifests (a cached load says nothing of them):
  /// checked at every commit, a few tree lookups per pipeline.
  private static func checkingPaths(_ result: LoadResult, _ tree: GitTree) -> LoadResult {
    let errors = RepositoryPaths.check(result.manifests, in: tree)
    guard !errors.isEmpty else { return result }
    var checked = result
    checked.diagnostics = (checked.diagnostics + errors).sortedForDisplay()
    return checked
  }

  /// The desired state of a valid load: the manifests plus each pipeline's workdir tree id and
  /// the md5 recorded in each DVC pointer at that commit.
  public func desiredState(_ result: LoadResult, tree: GitTree, commit: CommitInfo) -> DesiredState {
    let (workdirs, dvc) = digests.digests(of: result.manifests.pipelines, in: tree)
    return DesiredState(
      commit: commit.id.hex, manifests: result.manifests, workdirDigests: workdirs, dvcDigests: dvc)
  }

  /// The `md5` of a DVC pointer file (`outs: [{md5: …}]`, or a top-level `md5`).
  static func dvcDigest(_ tree: GitTree, _ path: String) -> String? {
    guard let bytes = try? tree.read(path, limit: 64 * 1024),
      let root = try? YAMLComposer.compose(bytes).first?.root,
      case .mapping(let pairs) = root.content
    else { return nil }
    func md5(in pairs: [YAMLNode.Pair]) -> String? {
      pairs.first { $0.key.scalar?.value == "md5" }?.value.scalar?.value
    }
    if let outs = pairs.first(where: { $0.key.scalar?.value == "outs" })?.value,
      case .sequence(let items) = outs.content, case .mapping(let first)? = items.first?.content
    {
      return md5(in: first)
    }
    return md5(in: pairs)
  }
}
