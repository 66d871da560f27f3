import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The user training steps and replicas run as (agent.yaml `runAs`), apart from the agent: a
/// step then cannot read the agent's memory or environment (`/proc/<agent>/environ`, where a secret
/// given as `{env: …}` lives), its state database or its keys. Switched to by `setpriv` (util-linux)
/// between the agent's spawn and the program, with supplementary groups cleared and no way to
/// gain privileges back (`--no-new-privs`).
public struct RunAs: Sendable, Hashable, CustomStringConvertible {
  public var name: String
  public var uid: UInt32
  public var gid: UInt32

  public var description: String { "\(name) (uid \(uid))" }

  /// The user named (or numbered) `user`, from the system's user database; nil when unknown.
  public static func named(_ user: String) -> RunAs? {
    guard let entry = getpwnam(user) ?? UInt32(user).flatMap({ getpwuid($0) }) else { return nil }
    return RunAs(
      name: String(cString: entry.pointee.pw_name), uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
  }

  /// What `argv` is run through to become this user.
  public func wrap(_ argv: [String]) -> [String] {
    ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--no-new-privs", "--"] + argv
  }

  /// Gives `path` (a folder the program writes to) to this user.
  public func own(_ path: String) throws {
    guard chown(path, uid, gid) == 0 else {
      throw RunError("cannot give \(path) to \(self): \(String(cString: strerror(errno)))")
    }
  }
}
