/// The manifest files found under each folder by the last load, by the folder's tree path and
/// content id (a git tree id): a folder whose id did not change holds the same files, so a
/// commit that changes one file walks only the folders on its path.
///
/// Only folders walked without meeting a symlink or a problem are kept (a symlink's target may
/// change while the folder holding the link does not), and the listings hold only while the
/// manifests root, the shown root and the ignore rules stay the same. After a load they hold
/// only that load's folders. A value: one loop owns it.
public struct FolderListings: Sendable {
  struct Listing: Sendable {
    var id: String
    /// The manifest files of the folder and every folder below it, in discovery order.
    var files: [ManifestFile]
    /// The folder and every folder below it (tree paths).
    var folders: [String]
  }

  private var key: String?
  private var previous: [String: Listing] = [:]
  private var current: [String: Listing] = [:]

  public init() {}

  /// Folders kept from the last load.
  public var count: Int { current.count }
  /// Folders the last load took from the one before rather than walk (each reused folder
  /// counts, not the folders below it).
  public private(set) var lastReused = 0

  /// Starts a load under `key` (what the listings depend on besides the folders' ids).
  mutating func begin(key: String) {
    previous = self.key == key ? current : [:]
    current = [:]
    lastReused = 0
    self.key = key
  }

  /// The listing of `folder` when an earlier load saw it with the same id; it and the listings
  /// of the folders below it are kept for the next load.
  mutating func reuse(_ folder: String, id: String) -> Listing? {
    guard let listing = previous[folder], listing.id == id else { return nil }
    lastReused += 1
    for path in listing.folders {
      if let below = previous[path] { current[path] = below }
    }
    return listing
  }

  mutating func record(_ folder: String, _ listing: Listing) { current[folder] = listing }
}
