/// A manifest tree held in memory: files by repo-relative path, plus symlinks.
///
/// For tests and for callers that already hold the bytes; folders exist implicitly.
public struct MemoryTree: ManifestTree {
  public var files: [String: [UInt8]]
  public var symlinks: [String: String]

  public init(files: [String: String] = [:], symlinks: [String: String] = [:]) {
    self.files = files.mapValues { Array($0.utf8) }
    self.symlinks = symlinks
  }

  private var allPaths: [String] { Array(files.keys) + Array(symlinks.keys) }

  public func entries(in folder: String) throws(TreeError) -> [TreeEntry] {
    guard case .folder = try entry(at: folder) else { throw TreeError(path: folder, reason: .notFound) }
    let prefix = folder.isEmpty ? "" : folder + "/"
    var names = Set<String>()
    for path in allPaths where path.hasPrefix(prefix) {
      if let name = path.dropFirst(prefix.count).split(separator: "/").first { names.insert(String(name)) }
    }
    var result: [TreeEntry] = []
    for name in names {
      if let kind = try entry(at: prefix + name) { result.append(TreeEntry(name: name, kind: kind)) }
    }
    return result
  }

  public func entry(at path: String) throws(TreeError) -> TreeEntry.Kind? {
    if files[path] != nil { return .file }
    if let target = symlinks[path] { return .symlink(target: target) }
    let prefix = path.isEmpty ? "" : path + "/"
    return allPaths.contains { $0.hasPrefix(prefix) } ? .folder : nil
  }

  public func read(_ file: String, limit: Int) throws(TreeError) -> [UInt8] {
    guard let bytes = files[file] else { throw TreeError(path: file, reason: .notFound) }
    guard bytes.count <= limit else { throw TreeError(path: file, reason: .tooLarge(limit: limit)) }
    return bytes
  }
}
