import CProcessControl
import Foundation
import Glibc
import Synchronization

/// Keeps the agent's secrets away from the processes it starts. Secrets given as `{env: NAME}`
/// are read once, when the configuration is loaded, then wiped from the process environment:
/// their bytes in the environment block the kernel shows as `/proc/<agent>/environ` are
/// overwritten, and the variables unset. The process is made non-dumpable, so a process of the
/// same user (a training step, a replica) cannot read its memory or environment either. A step
/// running as root can still read anything: `runAs` is what separates it (docs/security.md).
enum SecretEnvironment {
  private static let held = Mutex<[String: String]>([:])

  /// Takes the values of `names` out of the environment into the agent's memory, and makes the
  /// process non-dumpable.
  static func seal(_ names: Set<String>) {
    held.withLock { values in
      for name in names where values[name] == nil {
        if let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty { values[name] = value }
      }
    }
    wipe(names)
    _ = modelops_set_dumpable(0)
  }

  /// The value of a sealed secret, or of the variable as the environment has it.
  static func value(_ name: String) -> String? {
    if let value = held.withLock({ $0[name] }) { return value }
    return ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
  }

  /// Overwrites the values of `names` where they are stored, then unsets them.
  private static func wipe(_ names: Set<String>) {
    let block: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = environ
    guard !names.isEmpty, let entries = block else { return }
    var index = 0
    while let entry = entries[index] {
      index += 1
      let length = strlen(entry)
      guard let separator = memchr(entry, Int32(UInt8(ascii: "=")), length) else { continue }
      let nameLength = entry.distance(to: separator.assumingMemoryBound(to: CChar.self))
      let name = String(decoding: UnsafeRawBufferPointer(start: entry, count: nameLength), as: UTF8.self)
      guard names.contains(name) else { continue }
      memset(entry + nameLength + 1, 0, length - nameLength - 1)
    }
    for name in names { unsetenv(name) }
  }
}
