import Foundation

/// Zip archives without compression (method 0, "stored"), the format Ray takes for a job's or
/// an application's working_dir and the one a Ray step sends its output back in. Written
/// deterministically (fixed dates, sorted names), so the same folder makes the same bytes and
/// the same package name. Read strictly: regular files and folders under relative names only.
public enum ZipArchive {
  /// Largest archive written or read (Ray's package limit is 500 MiB; zip64 is not used).
  public static let maxSize: Int64 = 2 << 30

  /// The archive of `folder`'s files (symbolic links are not followed: they are left out), with
  /// `extra` files added at its root.
  public static func write(folder: URL, extra: [String: Data] = [:], limit: Int64 = maxSize) throws -> Data {
    var entries: [(String, Data)] = []
    var total: Int64 = 0
    let fm = FileManager.default
    for relative in (fm.subpaths(atPath: folder.path) ?? []).sorted() {
      let path = folder.appendingPathComponent(relative).path
      guard let attributes = try? fm.attributesOfItem(atPath: path),
        attributes[.type] as? FileAttributeType == .typeRegular
      else { continue }
      let data = try Data(contentsOf: URL(fileURLWithPath: path))
      total += Int64(data.count)
      guard total <= limit else {
        throw RunError("\(folder.path) holds more than \(limit >> 20) MiB: too large to send to Ray")
      }
      entries.append((relative, data))
    }
    for (name, data) in extra.sorted(by: { $0.key < $1.key }) {
      total += Int64(data.count)
      guard total <= limit else { throw RunError("more than \(limit >> 20) MiB: too large to send to Ray") }
      entries.append((name, data))
    }
    return try archive(entries)
  }

  static func archive(_ entries: [(String, Data)]) throws -> Data {
    var out = Data()
    var central = Data()
    for (name, data) in entries {
      let nameBytes = Data(name.utf8)
      guard data.count < Int(UInt32.max), out.count < Int(UInt32.max) else { throw RunError("archive too large") }
      let crc = CRC32.of(data)
      let offset = UInt32(out.count)
      out.append(le32(0x0403_4b50))
      out.append(le16(20) + le16(0x0800) + le16(0) + le16(0) + le16(0x21))  // version, UTF-8 names, stored, 1980-01-01
      out.append(le32(crc) + le32(UInt32(data.count)) + le32(UInt32(data.count)))
      out.append(le16(UInt16(nameBytes.count)) + le16(0))
      out.append(nameBytes)
      out.append(data)
      central.append(le32(0x0201_4b50) + le16(0x031e) + le16(20) + le16(0x0800) + le16(0) + le16(0) + le16(0x21))
      central.append(le32(crc) + le32(UInt32(data.count)) + le32(UInt32(data.count)))
      central.append(le16(UInt16(nameBytes.count)) + le16(0) + le16(0) + le16(0) + le16(0))
      central.append(le32(UInt32(0o100644) << 16) + le32(offset))
      central.append(nameBytes)
    }
    let count = UInt16(clamping: entries.count)
    let start = UInt32(clamping: out.count)
    out.append(central)
    out.append(le32(0x0605_4b50) + le16(0) + le16(0) + le16(count) + le16(count))
    out.append(le32(UInt32(clamping: central.count)) + le32(start) + le16(0))
    return out
  }

  /// Extracts an archive into `folder` (which must not exist yet). Refused, with nothing left
  /// behind: compressed or encrypted entries, absolute names or `..`, links, a wrong CRC.
  public static func extract(_ archive: Data, into folder: URL) throws {
    let entries = try read(archive)
    let fm = FileManager.default
    try fm.createDirectory(at: folder, withIntermediateDirectories: false)
    do {
      for (name, data) in entries {
        let target = folder.appendingPathComponent(name)
        if name.hasSuffix("/") {
          try fm.createDirectory(at: target, withIntermediateDirectories: true)
          continue
        }
        try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard fm.createFile(atPath: target.path, contents: data) else { throw RunError("cannot write \(name)") }
      }
    } catch {
      try? fm.removeItem(at: folder)
      throw error
    }
  }

  /// The entries (name, bytes) of an archive, checked: the directory first (names, kinds, the
  /// entries' places, which must not overlap — one blob named many times would multiply the
  /// archive), then each entry's bytes against its checksum.
  static func read(_ archive: Data) throws -> [(String, Data)] {
    let bytes = [UInt8](archive)
    func u16(_ at: Int) throws -> Int {
      guard at >= 0, at + 2 <= bytes.count else { throw RunError("the zip archive is truncated") }
      return Int(bytes[at]) | Int(bytes[at + 1]) << 8
    }
    func u32(_ at: Int) throws -> Int { try u16(at) | (try u16(at + 2)) << 16 }
    // The end of central directory record: within the last 64 KiB + 22 bytes.
    var end = bytes.count - 22
    while end >= max(0, bytes.count - 65_557), try u32(end) != 0x0605_4b50 { end -= 1 }
    guard end >= 0, end >= bytes.count - 65_557 else { throw RunError("not a zip archive (no end record)") }
    let count = try u16(end + 10)
    var at = try u32(end + 16)
    var places: [(name: String, local: Int, start: Int, size: Int, crc: UInt32)] = []
    var seen = Set<String>()
    for _ in 0..<count {
      guard try u32(at) == 0x0201_4b50 else { throw RunError("the zip archive's directory is damaged") }
      let flags = try u16(at + 8)
      let method = try u16(at + 10)
      let crc = UInt32(try u32(at + 16))
      let size = try u32(at + 20)
      let nameLength = try u16(at + 28)
      let skip = try u16(at + 30) + (try u16(at + 32))
      let mode = (try u32(at + 38)) >> 16
      let local = try u32(at + 42)
      guard at + 46 + nameLength <= bytes.count else { throw RunError("the zip archive is truncated") }
      let name = String(decoding: bytes[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self)
      at += 46 + nameLength + skip
      guard flags & 1 == 0, method == 0 else { throw RunError("\(name): only stored (uncompressed) entries are read") }
      guard safe(name), seen.insert(name).inserted else { throw RunError("'\(name)' is not a safe, unique name") }
      let kind = mode & 0o170000
      guard kind == 0 || kind == 0o100000 || kind == 0o040000 else { throw RunError("\(name): not a file or folder") }
      let start = local + 30 + (try u16(local + 26)) + (try u16(local + 28))
      guard try u32(local) == 0x0403_4b50, start + size <= bytes.count else {
        throw RunError("\(name): the zip archive is damaged")
      }
      places.append((name, local, start, size, crc))
    }
    let ordered = places.sorted { $0.local < $1.local }
    for (before, after) in zip(ordered, ordered.dropFirst()) where after.local < before.start + before.size {
      throw RunError("\(after.name): the zip archive's entries overlap")
    }
    return try places.map { place in
      let data = Data(bytes[place.start..<(place.start + place.size)])
      guard CRC32.of(data) == place.crc else { throw RunError("\(place.name): its bytes do not match their checksum") }
      return (place.name, data)
    }
  }

  /// A relative name without `..`, `.`, empty parts or a backslash.
  static func safe(_ name: String) -> Bool {
    guard !name.isEmpty, !name.hasPrefix("/"), !name.contains("\\"), !name.contains("\0") else { return false }
    let parts = name.split(separator: "/", omittingEmptySubsequences: false)
    return parts.enumerated().allSatisfy { index, part in
      (part.isEmpty && index == parts.count - 1 && index > 0) || (!part.isEmpty && part != "." && part != "..")
    }
  }

  private static func le16(_ v: UInt16) -> Data { Data([UInt8(v & 0xff), UInt8(v >> 8)]) }
  private static func le32(_ v: UInt32) -> Data { Data((0..<4).map { UInt8((v >> (8 * $0)) & 0xff) }) }
}

/// CRC-32 (IEEE), as zip checks entries with.
enum CRC32 {
  private static let table: [UInt32] = (0..<256).map { n in
    (0..<8).reduce(UInt32(n)) { c, _ in c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
  }

  static func of(_ data: Data) -> UInt32 {
    var crc: UInt32 = 0xffff_ffff
    data.withUnsafeBytes { raw in
      for byte in raw { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
    }
    return crc ^ 0xffff_ffff
  }
}
