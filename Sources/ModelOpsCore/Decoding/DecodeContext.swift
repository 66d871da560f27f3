/// Collects the diagnostics of one file while its documents are decoded.
///
/// Decoding never stops at the first problem: each field that is wrong is reported and skipped,
/// so one run of `agent validate` shows every error.
final class DecodeContext {
  let path: String
  private(set) var diagnostics: [Diagnostic] = []
  /// Cross-resource references found while decoding, checked once every file is read.
  var references: [Reference] = []
  /// Listen addresses claimed by deployments, checked for clashes.
  var listenClaims: [ListenClaim] = []
  /// Resources whose kind and name are known but whose document has errors: references to them
  /// are not reported again as undeclared.
  var declaredWithErrors: [ResourceID] = []

  init(path: String) { self.path = path }

  func location(_ node: YAMLNode) -> SourceLocation {
    SourceLocation(path: path, line: node.line, column: node.column)
  }

  func error(_ message: String, at node: YAMLNode) {
    diagnostics.append(Diagnostic(.error, at: location(node), message))
  }

  var errorCount: Int { diagnostics.count }
}

/// A name in one resource that must match a resource of the same commit.
struct Reference {
  enum Requirement {
    case exists
    /// The Model must declare this alias.
    case modelHasAlias(String)
    /// The Pipeline must train this model.
    case pipelineTrains(String)
    /// The Monitor must watch this deployment.
    case monitorWatches(String)
  }
  var kind: ResourceKind
  var name: String
  var field: String
  var requirement: Requirement
  var location: SourceLocation
}

/// A deployment's endpoint, which no other deployment may also listen on.
struct ListenClaim {
  var address: ListenAddress
  var deployment: String
  var field: String
  var location: SourceLocation
}

/// The closest candidate to a misspelt word, when one is close enough to be a likely typo.
func suggestion(for word: String, among candidates: [String]) -> String? {
  let lower = word.lowercased()
  if let same = candidates.first(where: { $0.lowercased() == lower }) { return same }
  let limit = word.count <= 4 ? 1 : 2
  var best: (String, Int)?
  for candidate in candidates {
    let d = editDistance(lower, candidate.lowercased(), limit: limit)
    if d <= limit, d < (best?.1 ?? Int.max) { best = (candidate, d) }
  }
  if let best { return best.0 }
  return candidates.first { $0.lowercased().hasPrefix(lower) && lower.count >= 3 }
}

/// Levenshtein distance, giving up early once it exceeds `limit`.
func editDistance(_ a: String, _ b: String, limit: Int) -> Int {
  let a = Array(a.utf8)
  let b = Array(b.utf8)
  if abs(a.count - b.count) > limit { return limit + 1 }
  var previous = Array(0...b.count)
  var current = [Int](repeating: 0, count: b.count + 1)
  for i in 1...max(a.count, 1) where !a.isEmpty {
    current[0] = i
    var rowMin = current[0]
    for j in 1...max(b.count, 1) where !b.isEmpty {
      let cost = a[i - 1] == b[j - 1] ? 0 : 1
      current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
      rowMin = min(rowMin, current[j])
    }
    if rowMin > limit { return limit + 1 }
    swap(&previous, &current)
  }
  return a.isEmpty ? b.count : previous[b.count]
}
