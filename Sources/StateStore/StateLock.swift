import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Only one agent acts on a state folder at a time (SPEC §8.6): an exclusive `flock` on
/// `agent.lock`, holding the owner's pid. The kernel drops it when the process dies, so a crash
/// never leaves a stale lock.
public final class StateLock: Sendable {
  private let descriptor: Int32
  public let path: String

  /// Takes the lock, or fails at once naming the process that holds it.
  public init(folder: String) throws(StateError) {
    path = "\(folder)/agent.lock"
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw StateError("cannot create the state folder \(folder): \(error.localizedDescription)")
    }
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw StateError("cannot open \(path): \(String(cString: strerror(errno)))") }
    guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
      let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
      close(fd)
      throw StateError(
        "another agent (pid \(holder.flatMap { $0.isEmpty ? nil : $0 } ?? "unknown")) is using the state folder \(folder); "
          + "stop it first, or give this one another --state")
    }
    ftruncate(fd, 0)
    let pid = "\(getpid())\n"
    _ = pid.withCString { write(fd, $0, strlen($0)) }
    descriptor = fd
  }

  deinit {
    flock(descriptor, LOCK_UN)
    close(descriptor)
  }
}

/// A state-store failure, said the way a person acts on it.
public struct StateError: Error, Sendable, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}
