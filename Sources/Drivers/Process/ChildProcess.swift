import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A program the agent starts: in its own process group (a timeout stops everything it started),
/// with default signal handling whatever the agent blocks, output appended to a log file.
public struct ChildProcess: Sendable {
  public let pid: pid_t

  public enum Exit: Equatable, Sendable, CustomStringConvertible {
    case code(Int32)
    case signal(Int32)
    case timedOut

    public var description: String {
      switch self {
      case .code(let c): return "exit status \(c)"
      case .signal(let s): return "killed by signal \(s)"
      case .timedOut: return "timed out"
      }
    }
  }

  /// Starts `argv` in `directory` with exactly `environment`, stdout and stderr to `log`;
  /// `memoryLimit` (bytes) caps its address space where the OS allows.
  public static func spawn(
    _ argv: [String], in directory: String, environment: [String: String], log: String, memoryLimit: Int64? = nil,
    runAs: RunAs? = nil
  ) throws -> ChildProcess {
    guard !argv.isEmpty else { throw RunError("empty command") }
    // The log is opened by the agent; the program then runs as `runAs` (the directory entered first).
    let argv = runAs?.wrap(argv) ?? argv
    guard let program = argv.first else { throw RunError("empty command") }
    // Enter the directory through sh, then exec the program itself: argv reaches it unchanged.
    let limit = memoryLimit.map { "ulimit -v \(max($0 / 1024, 1)) && " } ?? ""
    let trampoline = ["/bin/sh", "-c", "cd \"$0\" && \(limit)exec \"$@\"", directory] + argv
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    // Nothing else of the agent's is inherited: not its database, and not its listening sockets
    // (a replica holding a router's port would keep it bound after the agent stops).
    try closeFrom(3, &actions)

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGQUIT] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigmask(&attributes, &empty)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setpgroup(&attributes, 0)
    posix_spawnattr_setflags(
      &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    let args = trampoline.map { strdup($0) } + [nil]
    let env = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      args.forEach { free($0) }
      env.forEach { free($0) }
    }
    var pid: pid_t = 0
    let status = posix_spawn(&pid, "/bin/sh", &actions, &attributes, args, env)
    guard status == 0 else {
      throw RunError("cannot start '\(program)': \(String(cString: strerror(status)))")
    }
    return ChildProcess(pid: pid)
  }

  /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module does
  /// not export (it is a GNU extension): found once by name.
  private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
  private static let closeFromAction: CloseFrom? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
    else { return nil }
    return unsafeBitCast(symbol, to: CloseFrom.self)
  }()

  private static func closeFrom(_ fd: Int32, _ actions: inout posix_spawn_file_actions_t) throws {
    guard let add = closeFromAction, add(&actions, fd) == 0 else {
      throw RunError("this C library cannot close inherited descriptors at spawn (needs glibc 2.34 or later)")
    }
  }

  /// Waits for the process to end, killing its whole group at `deadline`.
  public func wait(until deadline: Date?) -> Exit {
    var status: Int32 = 0
    while true {
      let result = waitpid(pid, &status, WNOHANG)
      if result == pid {
        if status & 0x7f == 0 { return .code((status >> 8) & 0xff) }
        return .signal(status & 0x7f)
      }
      if result < 0, errno != EINTR { return .code(-1) }
      if let deadline, Date() >= deadline {
        kill(-pid, SIGKILL)
        waitpid(pid, &status, 0)
        return .timedOut
      }
      usleep(10_000)
    }
  }
}

/// The part of the agent's own environment a program it starts may see: enough to find programs
/// and a home, nothing else — the agent's secrets never reach training or serving code.
public enum ChildEnvironment {
  public static let passedThrough = ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "PYTHONPATH"]

  public static func base() -> [String: String] {
    ProcessInfo.processInfo.environment.filter { passedThrough.contains($0.key) }
  }
}

/// A run failure, said so a person can act on it.
public struct RunError: Error, Sendable, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}
