import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A stream socket on a path (AF_UNIX), for the agent to talk to its detached router: listen,
/// connect, and whole-message reads and writes with a deadline on every wait.
enum UnixSocket {
  struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ what: String) { description = "\(what): \(String(cString: strerror(errno)))" }
  }

  /// Binds and listens on `path` (a stale socket file there is replaced); the descriptor.
  static func listen(_ path: String) throws -> Int32 {
    unlink(path)
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw Failure("socket") }
    var address = try self.address(path)
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard bound == 0, Glibc.listen(fd, 16) == 0 else {
      let failure = Failure("cannot listen on \(path)")
      close(fd)
      throw failure
    }
    chmod(path, 0o600)
    return fd
  }

  /// Connects to `path`; reads and writes on the descriptor give up after `timeout`.
  static func connect(_ path: String, timeout: TimeInterval) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw Failure("socket") }
    setTimeout(fd, timeout)
    var address = try self.address(path)
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
      }
    }
    guard connected == 0 else {
      let failure = Failure("cannot connect to \(path)")
      close(fd)
      throw failure
    }
    return fd
  }

  static func setTimeout(_ fd: Int32, _ seconds: TimeInterval) {
    var time = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - seconds.rounded(.down)) * 1_000_000))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
  }

  /// Writes all of `data`.
  static func write(_ fd: Int32, _ data: Data) throws {
    try data.withUnsafeBytes { buffer in
      guard let base = buffer.baseAddress else { return }
      var offset = 0
      while offset < buffer.count {
        let sent = send(fd, base.advanced(by: offset), buffer.count - offset, Int32(MSG_NOSIGNAL))
        guard sent > 0 else { throw Failure("write") }
        offset += sent
      }
    }
  }

  /// Reads until the peer closes its side (or `limit` bytes: an error).
  static func readAll(_ fd: Int32, limit: Int) throws -> Data {
    var data = Data()
    var chunk = [UInt8](repeating: 0, count: 64 << 10)
    while true {
      let count = recv(fd, &chunk, chunk.count, 0)
      if count == 0 { return data }
      guard count > 0 else { throw Failure("read") }
      data.append(contentsOf: chunk[0..<count])
      guard data.count <= limit else { throw Failure("message larger than \(limit) bytes") }
    }
  }

  private static func address(_ path: String) throws -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    guard bytes.count < capacity else {
      errno = ENAMETOOLONG
      throw Failure("socket path \(path) is longer than \(capacity - 1) bytes")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      raw.copyBytes(from: bytes)
      raw[bytes.count] = 0
    }
    return address
  }
}
