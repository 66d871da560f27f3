import Drivers
import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Where one attempt of a step is: still running, ended with an exit, or gone without a trace
/// (its process vanished while no agent watched it, and it left no exit status).
enum StepState: Sendable {
  case running
  case exited(ChildProcess.Exit)
  /// Ended in failure without an exit status (a Ray job whose environment could not be set up).
  case failed(String)
  case vanished
}

/// One attempt of one step, on the host or in a container: started, looked at, stopped. A host
/// step runs under a small shell that writes its exit status to a file beside the run's log, so
/// an agent that restarted (and is no longer its parent) still learns how it ended.
struct StepProcess {
  let docker: DockerRuntime?
  let folder: URL
  var runAs: RunAs? = nil

  /// `status/step-<index>-<attempt>.status`: the exit status the step's shell writes when it ends
  /// (in a folder the step's user owns; a run from before it has its files beside the log).
  func statusFile(step: Int, attempt: Int) -> URL {
    let name = "step-\(step)-\(attempt).status"
    let status = folder.appendingPathComponent("status")
    return FileManager.default.fileExists(atPath: status.path)
      ? status.appendingPathComponent(name) : folder.appendingPathComponent(name)
  }

  /// Starts the attempt: a process group on the host (pid and kernel start time) or a container.
  func launch(_ plan: RunPlan, step: Int, attempt: Int, log: String) throws -> (
    pid: Int32?, ticks: UInt64?, container: String?
  ) {
    let definition = plan.steps[step]
    if let spec = plan.containerSpec(step: definition, attempt: attempt) {
      guard let docker else { throw RunError("the run's steps need the docker runtime, which is not configured") }
      let id = try docker.engine.create(spec)
      do { try docker.engine.start(id) } catch {
        try? docker.engine.remove(id)
        throw error
      }
      return (nil, nil, id)
    }
    let status = statusFile(step: step, attempt: attempt).path
    let script = #"f=$1; shift; "$@"; s=$?; echo "$s" > "$f.tmp" && mv "$f.tmp" "$f"; exit "$s""#
    let argv = ["/bin/sh", "-c", script, "modelops-step", status] + definition.argv
    let environment = plan.environment.merging(definition.env) { _, own in own }
    let child = try ChildProcess.spawn(argv, in: plan.workdir, environment: environment, log: log, runAs: runAs)
    // A step that ends at once has no start time left to read: its status file says how it ended.
    return (child.pid, ProcessRuntime.startTime(of: child.pid) ?? 0, nil)
  }

  /// How the attempt stands now.
  func state(pid: Int32?, ticks: UInt64?, container: String?, step: Int, attempt: Int) -> StepState {
    if let container {
      guard let docker else { return .vanished }
      guard let info = try? docker.engine.inspect(container) else {
        // The engine does not answer: the container counts as running until it does.
        return (try? docker.engine.version()) == nil ? .running : .vanished
      }
      return info.state.running ? .running : .exited(.code(Int32(truncatingIfNeeded: info.state.exitCode)))
    }
    guard let pid else { return .vanished }
    // A child of this agent that ended is reaped here (its exit status is also in the file).
    var raw: Int32 = 0
    if waitpid(pid, &raw, WNOHANG) == pid, readStatus(step: step, attempt: attempt) == nil {
      return .exited(raw & 0x7f == 0 ? .code((raw >> 8) & 0xff) : .signal(raw & 0x7f))
    }
    if let ticks, ticks != 0, ProcessRuntime.startTime(of: pid) == ticks { return .running }
    if let code = readStatus(step: step, attempt: attempt) { return .exited(.code(code)) }
    return .vanished
  }

  private func readStatus(step: Int, attempt: Int) -> Int32? {
    guard let text = try? String(contentsOf: statusFile(step: step, attempt: attempt), encoding: .utf8) else {
      return nil
    }
    return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  /// Asks the attempt to stop: SIGTERM to the step's process group, or the engine's stop.
  func terminate(pid: Int32?, ticks: UInt64?, container: String?) {
    if let container, let docker {
      try? docker.engine.stop(container, grace: 2)
      return
    }
    guard let pid, let ticks, ticks == 0 || ProcessRuntime.startTime(of: pid) == ticks else { return }
    Glibc.kill(-pid, SIGTERM)
  }

  /// SIGKILL to the process group a host step leads (nothing for a container step, which the
  /// engine has stopped): what the step started goes with it, even after the step itself ended.
  func killGroup(pid: Int32?, ticks: UInt64?) {
    guard let pid, pid > 1 else { return }
    // A live process under that pid that is not the step's leader: the pid was reused, the group
    // cannot be told apart any more.
    if let ticks, ticks != 0, let now = ProcessRuntime.startTime(of: pid), now != ticks { return }
    Glibc.kill(-pid, SIGKILL)
    var raw: Int32 = 0
    _ = waitpid(pid, &raw, WNOHANG)
  }

  /// Stops the attempt for good: SIGTERM, then SIGKILL to the group after `grace`.
  func kill(pid: Int32?, ticks: UInt64?, container: String?, grace: TimeInterval) {
    terminate(pid: pid, ticks: ticks, container: container)
    guard container == nil, let pid else { return }
    let deadline = Date().addingTimeInterval(grace)
    var raw: Int32 = 0
    // Checked at least once, so that a pid reused by another process is never killed.
    while true {
      if waitpid(pid, &raw, WNOHANG) == pid { return }
      if let ticks, ProcessRuntime.startTime(of: pid) != ticks { return }
      if Date() >= deadline { break }
      usleep(20_000)
    }
    Glibc.kill(-pid, SIGKILL)
    _ = waitpid(pid, &raw, WNOHANG)
  }

  /// A container step's output, appended to the run's log past what its follower wrote (all of it
  /// after an adoption, or when no follower ran; the rest when the follower had not caught up,
  /// or never reached the engine, before the step ended), and the container removed.
  func collect(container: String, log: String, followedBytes: Int?) {
    guard let docker else { return }
    if let output = try? docker.engine.logs(container) {
      let written = min(followedBytes ?? 0, output.count)
      if written < output.count {
        TrainingRunner.append(log, String(decoding: output[output.startIndex.advanced(by: written)...], as: UTF8.self))
      }
    }
    if let info = try? docker.engine.inspect(container), info.state.oomKilled {
      TrainingRunner.append(log, "==> the container ran out of memory\n")
    }
    try? docker.engine.remove(container)
  }
}

/// Container steps whose output a thread follows into the run's log while they run, and how many
/// bytes each follower wrote: once the step is collected its follower writes nothing more, and
/// the collector appends what the follower missed.
final class FollowedContainers: Sendable {
  private let written = Mutex<[String: Int]>([:])

  /// Starts following `container` on a thread of its own, unless someone already does.
  func follow(_ container: String, engine: DockerEngine, log: String) {
    let started = written.withLock { written in
      guard written[container] == nil else { return false }
      written[container] = 0
      return true
    }
    guard started else { return }
    Thread { [self] in
      guard let writer = FileHandle(forWritingAtPath: log) else { return }
      defer { try? writer.close() }
      _ = try? writer.seekToEnd()
      _ = try? engine.followLogs(container, until: nil) { chunk in
        self.written.withLock { written in
          // Collected: the collector appends the rest itself.
          guard let count = written[container] else { return }
          try? writer.write(contentsOf: chunk)
          written[container] = count + chunk.count
        }
      }
    }.start()
  }

  /// Stops the follower of `container` from writing; the bytes it wrote (nil: none followed it).
  func finish(_ container: String) -> Int? { written.withLock { $0.removeValue(forKey: container) } }
}

/// Steps asked to stop for their timeout (SIGTERM sent), and when each is killed if still running.
/// In memory only: after a restart a step past its deadline is simply asked again.
final class StoppingSteps: Sendable {
  private let killAt = Mutex<[String: Date]>([:])

  func begin(_ run: String, killAt date: Date) { killAt.withLock { $0[run] = date } }
  /// When the step of `run` is killed; nil when it was not asked to stop.
  func due(_ run: String) -> Date? { killAt.withLock { $0[run] } }
  /// Forgets `run`; whether its step had been asked to stop.
  func end(_ run: String) -> Bool { killAt.withLock { $0.removeValue(forKey: run) != nil } }
}
