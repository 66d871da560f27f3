import Foundation

#if DEBUG
  /// Test builds only (compiled out of release builds): `MODELOPS_CRASH_AT=NAME` kills the agent
  /// with SIGKILL, nothing cleaned up, when it reaches the point NAME: between two of its writes.
  /// The crash-matrix test (`CrashMatrixTests`) stops it at each point in turn and checks that
  /// the next agent loses and repeats nothing. Points: `VERB.intent` (the intent journaled,
  /// nothing done), `VERB.done` (done, not yet journaled), `VERB.journaled` (journaled, the event
  /// not yet written) for the verbs train, promote and rollout; `register.recorded` (a version
  /// registered, its run not yet finished); `rollout.step` (a canary step saved, its traffic not
  /// yet sent to the router); `rollout.finish` (the new revision recorded active, the old
  /// replicas not yet stopped).
  enum CrashPoint {
    static let wanted = ProcessInfo.processInfo.environment["MODELOPS_CRASH_AT"]

    static func reached(_ name: @autoclosure () -> String) {
      guard let wanted, wanted == name() else { return }
      FileHandle.standardError.write(Data("MODELOPS_CRASH_AT: killed at \(wanted)\n".utf8))
      kill(getpid(), SIGKILL)
    }
  }
#else
  enum CrashPoint {
    @inline(__always) static func reached(_ name: @autoclosure () -> String) {}
  }
#endif
