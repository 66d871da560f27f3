import CFuzzer
import Foundation
import Synchronization

/// `modelops-fuzz TARGET …`. Built by scripts/fuzz (`-sanitize=fuzzer -DFUZZING`), it hands the
/// rest of its arguments to libFuzzer, which feeds the target; built plainly, it runs the target
/// once on each file given (a corpus, or a crash libFuzzer found), so a finding can be replayed
/// in a debugger or a test.
@main struct Fuzz {
  static func main() throws {
    let arguments = Array(CommandLine.arguments.dropFirst())
    guard let name = arguments.first, let target = FuzzTargets.all[name] else {
      print("usage: modelops-fuzz \(FuzzTargets.all.keys.sorted().joined(separator: "|")) FILE|FOLDER|LIBFUZZER_FLAG…")
      exit(2)
    }
    chosen.withLock { $0 = target }
    #if FUZZING
      // libFuzzer reads its flags and corpus folders from argv: the target's name is taken out.
      var argv: [UnsafeMutablePointer<CChar>?] = [CommandLine.unsafeArgv[0]]
      for index in 2..<Int(CommandLine.argc) { argv.append(CommandLine.unsafeArgv[index]) }
      argv.append(nil)
      var argc = CInt(argv.count - 1)
      let status = argv.withUnsafeMutableBufferPointer { buffer in
        var base = buffer.baseAddress
        return LLVMFuzzerRunDriver(&argc, &base, fuzzOne)
      }
      exit(status)
    #else
      var count = 0
      for path in arguments.dropFirst() {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { continue }
        let files =
          isFolder.boolValue
          ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 } : [path]
        for file in files {
          guard let data = FileManager.default.contents(atPath: file) else { continue }
          target(Array(data))
          count += 1
        }
      }
      print("\(name): \(count) input(s) replayed, none crashed")
    #endif
  }
}

/// The target chosen on the command line.
private let chosen = Mutex<(@Sendable ([UInt8]) -> Void)?>(nil)

/// One input, as libFuzzer gives it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
  chosen.withLock { $0 }?(bytes)
  return 0
}
