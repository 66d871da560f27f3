/// Finds the manifest files under a path: recursively, in byte order of names, skipping names
/// that start with `.` and what `.modelopsignore` lists, following only symlinks that stay inside.
struct Discovery<Tree: ManifestTree> {
  let tree: Tree
  let root: String
  let displayRoot: String
  let options: LoadOptions
  var ignore = IgnoreRules()
  var files: [ManifestFile] = []
  var diagnostics: [Diagnostic] = []
  /// Whether a symlink led outside `root`: then `root`'s own content id does not cover all
  /// that was read.
  var leftRoot = false
  /// Folders already walked (by resolved path): a symlink loop is walked once.
  private var visited: Set<String> = []
  /// The same folders, in the order they were walked.
  private var walked: [String] = []
  /// What earlier loads found in folders with an id: an unchanged folder is not walked again.
  var listings: FolderListings
  private var symlinksSeen = 0

  init(tree: Tree, root: String, displayRoot: String, options: LoadOptions, listings: FolderListings = .init()) {
    self.tree = tree
    self.root = root
    self.displayRoot = displayRoot
    self.options = options
    self.listings = listings
  }

  static func isManifestName(_ name: String) -> Bool { name.hasSuffix(".yaml") || name.hasSuffix(".yml") }

  mutating func run() {
    do {
      switch try tree.entry(at: root) {
      case .folder:
        let ignoreText = loadIgnoreFile()
        listings.begin(key: [root, displayRoot, ignoreText ?? "\u{0}unreadable"].joined(separator: "\u{0}"))
        walk(folder: root, relative: "", id: nil)
      case .file where Self.isManifestName(root):
        files.append(ManifestFile(path: root, display: display("")))
      case .file, .other:
        fail("", "not a folder or a .yaml/.yml file")
      case .symlink:
        fail("", "the manifests path is a symlink: give the file or folder it points to")
      case nil:
        fail("", "no such folder: the configured manifests path is missing")
      }
    } catch {
      fail("", error.description)
    }
  }

  /// Reads the root's ignore file: its text (`""` when there is none), nil when unreadable.
  private mutating func loadIgnoreFile() -> String? {
    let path = joinPath(root, ".modelopsignore")
    let shown = ".modelopsignore"
    guard case .file = try? tree.entry(at: path) else { return "" }
    do {
      let text = String(decoding: try tree.read(path, limit: options.maxFileBytes), as: UTF8.self)
      ignore = IgnoreRules(parsing: text)
      return text
    } catch {
      fail(shown, error.description)
      return nil
    }
  }

  /// Walks `folder` (a tree path); `relative` is the same place seen from the manifests root.
  /// A folder with an `id` (a git tree id) that an earlier load listed is taken from `listings`;
  /// one walked without meeting a symlink or a problem is listed for the next load.
  private mutating func walk(folder: String, relative: String, id: String?) {
    guard visited.insert(folder).inserted else { return }
    if let id, let listing = listings.reuse(folder, id: id) {
      files += listing.files
      visited.formUnion(listing.folders)
      walked += listing.folders
      return
    }
    walked.append(folder)
    let (filesBefore, foldersBefore, problemsBefore, linksBefore) =
      (files.count, walked.count - 1, diagnostics.count, symlinksSeen)
    defer {
      if let id, diagnostics.count == problemsBefore, symlinksSeen == linksBefore {
        let listing = FolderListings.Listing(
          id: id, files: Array(files[filesBefore...]), folders: Array(walked[foldersBefore...]))
        listings.record(folder, listing)
      }
    }
    let entries: [TreeEntry]
    do {
      entries = try tree.entries(in: folder).sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    } catch {
      fail(relative, error.description)
      return
    }
    for entry in entries where !entry.name.hasPrefix(".") {
      let path = joinPath(folder, entry.name)
      let shown = joinPath(relative, entry.name)
      visit(path: path, relative: shown, kind: entry.kind, contentID: entry.contentID, hops: 0)
    }
  }

  /// `contentID` is the listed file's own id; a file reached through a symlink has none (the
  /// link's id is its target text), so it is parsed at every load.
  private mutating func visit(path: String, relative: String, kind: TreeEntry.Kind, contentID: String?, hops: Int) {
    switch kind {
    case .folder:
      if !ignore.isIgnored(relative, isFolder: true) { walk(folder: path, relative: relative, id: contentID) }
    case .file:
      if Self.isManifestName(relative), !ignore.isIgnored(relative, isFolder: false) {
        files.append(ManifestFile(path: path, display: display(relative), contentID: contentID))
      }
    case .symlink(let target):
      symlinksSeen += 1
      guard hops < options.maxSymlinkHops else {
        fail(relative, "too many symlinks in a row (a loop?)")
        return
      }
      let parent = path.split(separator: "/").dropLast().joined(separator: "/")
      guard !target.hasPrefix("/"), let resolved = Names.repoRelative(joinPath(parent, target)) else {
        fail(relative, "symlink points outside the repository ('\(target)'): refused")
        return
      }
      do {
        guard let targetKind = try tree.entry(at: resolved) else {
          fail(relative, "symlink target '\(target)' does not exist")
          return
        }
        if !isUnderRoot(resolved) { leftRoot = true }
        visit(path: resolved, relative: relative, kind: targetKind, contentID: nil, hops: hops + 1)
      } catch {
        fail(relative, error.description)
      }
    case .other:
      break
    }
  }

  private func isUnderRoot(_ path: String) -> Bool {
    root.isEmpty || root == "." || path == root || path.hasPrefix(root + "/")
  }

  private func display(_ relative: String) -> String {
    ManifestLoader.display(relative, root: root, displayRoot: displayRoot)
  }

  /// Records a problem with a whole file or folder, given relative to the manifests root.
  private mutating func fail(_ relative: String, _ message: String) {
    diagnostics.append(Diagnostic(.error, at: SourceLocation(path: display(relative), line: 0, column: 0), message))
  }
}
