/// What earlier loads made of each manifest file, by the path it is shown under and the id of
/// its content (a git blob id): a commit that changes one file re-parses only that file.
///
/// Locations in diagnostics and resources name the shown path, so a renamed file, whose blob id
/// is the same, is parsed again under its new name. Files without a content id (a folder on disk,
/// a file reached through a symlink) are parsed at every load. After a load the cache holds only
/// that load's files, so it never grows beyond one tree. A value: one loop owns it.
public struct ParseCache: Sendable {
  private struct Entry: Sendable {
    var contentID: String
    var outcome: ManifestLoader.FileOutcome
  }

  /// The limits the held outcomes were parsed under: other limits could judge the same bytes
  /// differently, so the cache empties when they change.
  private struct Limits: Hashable, Sendable {
    var maxFileBytes: Int
    var yaml: YAMLLimits
  }

  /// By shown path; an entry serves a file only when the content id matches too.
  private var entries: [String: Entry] = [:]
  private var limits: Limits?
  /// The set the last load merged, when it had no duplicates.
  private var mergedSet: ManifestLoader.MergedSet?
  /// The folders the last load walked, for its discovery.
  public internal(set) var folders = FolderListings()
  /// Files the last load parsed.
  public private(set) var lastParsed = 0
  /// Files the last load took from the cache.
  public private(set) var lastReused = 0

  public init() {}

  /// Files held.
  public var count: Int { entries.count }

  mutating func prepare(for options: LoadOptions) {
    let wanted = Limits(maxFileBytes: options.maxFileBytes, yaml: options.yaml)
    if limits != wanted {
      entries = [:]
      mergedSet = nil
    }
    limits = wanted
  }

  func outcome(for file: ManifestFile) -> ManifestLoader.FileOutcome? {
    guard let id = file.contentID, let entry = entries[file.display], entry.contentID == id else { return nil }
    return entry.outcome
  }

  /// Records what a load made of `files`: the outcomes of the files it parsed (at `parsed`)
  /// replace older ones, and files it did not list are dropped.
  mutating func update(_ files: [ManifestFile], _ results: [ManifestLoader.FileOutcome], parsed: [Int]) {
    var held = files.count - parsed.count
    for index in parsed {
      let file = files[index]
      if let id = file.contentID, results[index].reusable {
        entries[file.display] = Entry(contentID: id, outcome: results[index])
        held += 1
      } else {
        entries[file.display] = nil
      }
    }
    if entries.count != held {
      let listed = Set(files.map(\.display))
      entries = entries.filter { listed.contains($0.key) }
    }
    lastParsed = parsed.count
    lastReused = files.count - parsed.count
  }

  /// The merged set of the last load, taken out so that patching it copies nothing of the cache's.
  mutating func takeMergedSet() -> ManifestLoader.MergedSet? {
    defer { mergedSet = nil }
    return mergedSet
  }

  mutating func keep(_ merged: ManifestLoader.MergedSet?) { mergedSet = merged }
}
