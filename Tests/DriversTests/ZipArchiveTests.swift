import Drivers
import Foundation
import ModelOpsTesting
import Testing

/// The zip codec a Ray job's code goes out in and its output comes back in: what it writes
/// Python's zipfile reads, what Python writes it reads, and hostile archives change nothing.
@Suite struct ZipArchiveTests {
  func folder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("zip-\(UUID().uuidString)")
    try FileManager.default.createDirectory(
      at: url.appendingPathComponent("model/sub"), withIntermediateDirectories: true)
    try Data("weights".utf8).write(to: url.appendingPathComponent("model/weights.json"))
    try Data((0..<70_000).map { UInt8($0 % 251) }).write(to: url.appendingPathComponent("model/sub/blob.bin"))
    try FileManager.default.createSymbolicLink(
      atPath: url.appendingPathComponent("passwd").path, withDestinationPath: "/etc/passwd")
    return url
  }

  func python(_ script: String, _ arguments: [String]) throws -> String {
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("py-\(UUID().uuidString).log")
    defer { try? FileManager.default.removeItem(at: out) }
    let child = try ChildProcess.spawn(
      ["python3", "-c", script] + arguments, in: "/", environment: ChildEnvironment.base(), log: out.path)
    let exit = child.wait(until: Date().addingTimeInterval(30))
    let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
    guard exit == .code(0) else { throw FixtureError("python3 failed: \(text)") }
    return text
  }

  @Test func aFolderGoesOutDeterministicallyWithoutItsLinksAndPythonReadsIt() throws {
    let source = try folder()
    defer { try? FileManager.default.removeItem(at: source) }
    let zip = try ZipArchive.write(folder: source, extra: ["_wrapper.py": Data("print(1)".utf8)])
    #expect(try ZipArchive.write(folder: source, extra: ["_wrapper.py": Data("print(1)".utf8)]) == zip)
    let file = source.appendingPathComponent("out.zip")
    try zip.write(to: file)
    let listing = try python(
      "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; "
        + "print(sorted((i.filename, i.file_size) for i in z.infolist()))", [file.path])
    #expect(
      listing.contains("('_wrapper.py', 8), ('model/sub/blob.bin', 70000), ('model/weights.json', 7)"), "\(listing)")
    #expect(!listing.contains("passwd"))
  }

  @Test func whatPythonWritesIsExtractedByteForByte() throws {
    let source = try folder()
    defer { try? FileManager.default.removeItem(at: source) }
    let file = source.appendingPathComponent("py.zip")
    _ = try python(
      "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_STORED) as z:\n"
        + "  z.write(sys.argv[2], 'model/weights.json')\n  z.write(sys.argv[3], 'model/sub/blob.bin')\n",
      [
        file.path, source.appendingPathComponent("model/weights.json").path,
        source.appendingPathComponent("model/sub/blob.bin").path,
      ])
    let target = source.appendingPathComponent("extracted")
    try ZipArchive.extract(try Data(contentsOf: file), into: target)
    for name in ["model/weights.json", "model/sub/blob.bin"] {
      #expect(
        try Data(contentsOf: target.appendingPathComponent(name))
          == Data(contentsOf: source.appendingPathComponent(name)))
    }
  }

  @Test(arguments: [
    ("../escape.txt", "stored", "not a safe, unique name"),
    ("/etc/cron.d/x", "stored", "not a safe, unique name"),
    ("a/./b", "stored", "not a safe, unique name"),
    ("link", "symlink", "not a file or folder"),
    ("packed.txt", "deflated", "only stored (uncompressed) entries are read"),
  ])
  func aHostileArchiveIsRefusedAndLeavesNothing(name: String, kind: String, reason: String) throws {
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("zip-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: work) }
    let file = work.appendingPathComponent("bad.zip")
    _ = try python(
      "import sys, zipfile\nname, kind = sys.argv[2], sys.argv[3]\n"
        + "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED if kind == 'deflated' else zipfile.ZIP_STORED) as z:\n"
        + "  z.writestr('ok.txt', 'fine')\n  info = zipfile.ZipInfo(name)\n"
        + "  if kind == 'symlink': info.external_attr = 0o120777 << 16\n"
        + "  info.compress_type = zipfile.ZIP_DEFLATED if kind == 'deflated' else zipfile.ZIP_STORED\n"
        + "  z.writestr(info, '/etc/passwd' if kind == 'symlink' else 'x' * 100)\n",
      [file.path, name, kind])
    let target = work.appendingPathComponent("out")
    #expect {
      try ZipArchive.extract(try Data(contentsOf: file), into: target)
    } throws: { "\($0)".contains(reason) }
    #expect(!FileManager.default.fileExists(atPath: target.path))
  }

  @Test func aDamagedArchiveIsRefused() throws {
    let source = try folder()
    defer { try? FileManager.default.removeItem(at: source) }
    var zip = try ZipArchive.write(folder: source)
    let target = source.appendingPathComponent("out")
    // A flipped byte inside the first file's data: its checksum no longer matches.
    let offset = 30 + "model/sub/blob.bin".utf8.count + 10
    zip[offset] ^= 0xff
    #expect { try ZipArchive.extract(zip, into: target) } throws: { "\($0)".contains("do not match their checksum") }
    #expect { try ZipArchive.extract(zip.prefix(100), into: target) } throws: { "\($0)".contains("not a zip archive") }
    #expect(!FileManager.default.fileExists(atPath: target.path))
  }
}

extension ZipArchiveTests {
  /// One blob named twice in the directory (a "zip bomb" without compression) is refused.
  @Test func entriesThatShareTheirBytesAreRefused() throws {
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("zip-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: work) }
    let file = work.appendingPathComponent("overlap.zip")
    _ = try python(
      "import struct, sys, zipfile\n"
        + "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_STORED) as z: z.writestr('a', 'x' * 1000)\n"
        + "data = open(sys.argv[1], 'rb').read()\n"
        + "end = data.rindex(b'PK\\x05\\x06'); size, offset = struct.unpack('<II', data[end + 12:end + 20])\n"
        + "record = data[offset:offset + size]; twin = record[:46] + b'b' + record[47:]\n"
        + "tail = data[end:end + 8] + struct.pack('<HHII', 2, 2, size * 2, offset) + data[end + 20:]\n"
        + "open(sys.argv[1], 'wb').write(data[:offset] + record + twin + tail)\n",
      [file.path])
    #expect {
      try ZipArchive.extract(try Data(contentsOf: file), into: work.appendingPathComponent("out"))
    } throws: { "\($0)".contains("entries overlap") }
  }
}
