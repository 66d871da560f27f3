/// What earlier loads made of each manifest file, by the path it is shown under and the id of
/// its content (a git blob id): a commit that changes one file re-parses only that file.
///
/// Locations in diagnostics and resources name the shown path, so a renamed file, whose blob id
/// is the same, is parsed again under its new name. Files without a content id (a folder on disk,
/// a file reached through a symlink) are parsed at every load. After a load the cache holds only
/// that load's files, so it never grows beyond one tree. A value: one loop owns it.
public struct ParseCache: Sendable {
  struct Key: Hashable, Sendable {
    var display: String
    var contentID: String
  }

  /// The limits the held outcomes were parsed under: other limits could judge the same bytes
  /// differently, so the cache empties when they change.
  private struct Limits: Hashable, Sendable {
    var maxFileBytes: Int
    var yaml: YAMLLimits
  }

  private var outcomes: [Key: ManifestLoader.FileOutcome] = [:]
  private var limits: Limits?
  /// Files the last load parsed.
  public private(set) var lastParsed = 0
  /// Files the last load took from the cache.
  public private(set) var lastReused = 0

  public init() {}

  /// Files held.
  public var count: Int { outcomes.count }

  mutating func prepare(for options: LoadOptions) {
    let wanted = Limits(maxFileBytes: options.maxFileBytes, yaml: options.yaml)
    if limits != wanted { outcomes = [:] }
    limits = wanted
  }

  func outcome(for file: ManifestFile) -> ManifestLoader.FileOutcome? {
    guard let key = Self.key(file) else { return nil }
    return outcomes[key]
  }

  /// Holds exactly the outcomes of `files` (what one load read); others are dropped.
  mutating func replace(with files: [ManifestFile], _ results: [ManifestLoader.FileOutcome], parsed: Int) {
    var kept: [Key: ManifestLoader.FileOutcome] = [:]
    kept.reserveCapacity(files.count)
    for (file, outcome) in zip(files, results) where outcome.reusable {
      if let key = Self.key(file) { kept[key] = outcome }
    }
    outcomes = kept
    lastParsed = parsed
    lastReused = files.count - parsed
  }

  private static func key(_ file: ManifestFile) -> Key? {
    file.contentID.map { Key(display: file.display, contentID: $0) }
  }
}
