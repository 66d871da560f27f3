import Dispatch
import Synchronization

extension ManifestLoader {
  /// What one file yielded.
  struct FileOutcome: Sendable {
    var resources: [(Manifest, SourceLocation)] = []
    /// The kind of each resource, in order: enough to size the merged set without copying any.
    var kinds: [ResourceKind] = []
    var diagnostics: [Diagnostic] = []
    var references: [Reference] = []
    var claims: [ListenClaim] = []
    var declaredWithErrors: [ResourceID] = []
    /// False when the file could not be read: the next load tries again rather than repeat
    /// a failure that may have passed.
    var reusable = true
  }

  /// The outcome of every file, in the order of `files`: taken from `cache` when it holds the
  /// file, else decoded (on every core); and the indices of the files decoded. `cache` then
  /// holds exactly these files.
  static func decodeAll(
    _ files: [ManifestFile], tree: some ManifestTree, options: LoadOptions, cache: inout ParseCache
  ) -> (outcomes: [FileOutcome], parsed: [Int]) {
    cache.prepare(for: options)
    let reused = files.map { cache.outcome(for: $0) }
    let missing = reused.indices.filter { reused[$0] == nil }
    let decoded = Mutex([FileOutcome?](repeating: nil, count: missing.count))
    DispatchQueue.concurrentPerform(iterations: missing.count) { index in
      let outcome = decode(files[missing[index]], tree: tree, options: options)
      decoded.withLock { $0[index] = outcome }
    }
    var outcomes = reused
    decoded.withLock { decoded in
      for (index, outcome) in zip(missing, decoded) { outcomes[index] = outcome }
    }
    let result = outcomes.map { $0 ?? FileOutcome() }
    cache.update(files, result, parsed: missing)
    return (result, missing)
  }

  static func decode(_ file: ManifestFile, tree: some ManifestTree, options: LoadOptions) -> FileOutcome {
    var outcome = FileOutcome()
    let bytes: [UInt8]
    do {
      bytes = try tree.read(file.path, limit: options.maxFileBytes)
    } catch {
      outcome.diagnostics.append(
        Diagnostic(.error, at: SourceLocation(path: file.display, line: 0, column: 0), error.description))
      if case .io = error.reason { outcome.reusable = false }
      return outcome
    }
    let documents: [YAMLDocument]
    do {
      documents = try YAMLComposer.compose(bytes, limits: options.yaml)
    } catch {
      let location = SourceLocation(path: file.display, line: error.line, column: error.column)
      outcome.diagnostics.append(Diagnostic(.error, at: location, error.message))
      return outcome
    }
    let context = DecodeContext(path: file.display)
    for document in documents where !document.root.isNull {
      guard let decoded = DocumentDecoder.decode(document.root, context) else { continue }
      outcome.kinds.append(decoded.0.kind)
      outcome.resources.append(decoded)
    }
    outcome.diagnostics = context.diagnostics
    outcome.references = context.references
    outcome.claims = context.listenClaims
    outcome.declaredWithErrors = context.declaredWithErrors
    return outcome
  }
}

/// A manifest file found by discovery: the path to read, the path to show, and the id of its
/// content when the tree gives one (a git blob id).
struct ManifestFile: Sendable {
  var path: String
  var display: String
  var contentID: String? = nil
}
