#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A folder on disk seen as a manifest tree. `root` bounds it: nothing outside is reachable.
public struct DirectoryTree: ManifestTree {
  public let root: String

  public init(root: String) { self.root = root }

  private func absolute(_ path: String) -> String { path.isEmpty ? root : "\(root)/\(path)" }

  public func entries(in folder: String) throws(TreeError) -> [TreeEntry] {
    guard let dir = opendir(absolute(folder)) else { throw Self.error(folder) }
    defer { closedir(dir) }
    var result: [TreeEntry] = []
    while let item = readdir(dir) {
      let name = withUnsafeBytes(of: item.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name == "." || name == ".." { continue }
      let path = joinPath(folder, name)
      if let kind = try entry(at: path) { result.append(TreeEntry(name: name, kind: kind)) }
    }
    return result
  }

  public func entry(at path: String) throws(TreeError) -> TreeEntry.Kind? {
    var info = stat()
    // The root is what the caller chose, so it may be a symlink; inside it, links are reported.
    let status = path.isEmpty ? stat(root, &info) : lstat(absolute(path), &info)
    guard status == 0 else {
      if errno == ENOENT || errno == ENOTDIR { return nil }
      throw Self.error(path)
    }
    switch info.st_mode & S_IFMT {
    case S_IFREG: return .file
    case S_IFDIR: return .folder
    case S_IFLNK:
      var buffer = [CChar](repeating: 0, count: 4096)
      let count = readlink(absolute(path), &buffer, buffer.count - 1)
      guard count >= 0 else { throw Self.error(path) }
      return .symlink(target: String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self))
    default: return .other
    }
  }

  public func read(_ file: String, limit: Int) throws(TreeError) -> [UInt8] {
    let fd = open(absolute(file), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else { throw Self.error(file) }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw Self.error(file) }
    guard Int(info.st_size) <= limit else { throw TreeError(path: file, reason: .tooLarge(limit: limit)) }
    // Read at most limit + 1 bytes: a file that grew since stat is still caught.
    var bytes = [UInt8](repeating: 0, count: min(Int(info.st_size), limit) + 1)
    var total = 0
    while total < bytes.count {
      let n = bytes.withUnsafeMutableBytes { raw in readBytes(fd, raw.baseAddress.map { $0 + total }, raw.count - total)
      }
      if n < 0 {
        if errno == EINTR { continue }
        throw Self.error(file)
      }
      if n == 0 { break }
      total += n
    }
    guard total <= limit else { throw TreeError(path: file, reason: .tooLarge(limit: limit)) }
    bytes.removeSubrange(total...)
    return bytes
  }

  private static func error(_ path: String) -> TreeError {
    let code = errno
    if code == ENOENT || code == ENOTDIR { return TreeError(path: path, reason: .notFound) }
    return TreeError(path: path, reason: .io(String(cString: strerror(code))))
  }
}

/// `read(2)`, named apart from `DirectoryTree.read`.
private func readBytes(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
  read(fd, buffer, count)
}
