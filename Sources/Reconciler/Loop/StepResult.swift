import Foundation

/// What carrying out an action did, and what happens next — controller-runtime's `Result` and
/// Flux's waiting vs stalling. An action starts or advances work and returns: it never sleeps
/// through a pause or waits for a process; what must resume later is in the store.
public enum StepResult: Sendable {
  /// The resource got where the action takes it.
  case done(String)
  /// Work is under way or a timer runs: look again at `until` (nil: when a supervisor reports).
  case waiting(until: Date?, reason: String)
  /// The action failed: retried with backoff, or stalled until a person acts.
  case failed(StepFailure)
}

/// Why an action failed, and whether trying again can help.
public struct StepFailure: Error, Sendable, CustomStringConvertible {
  public enum Kind: Sendable {
    /// Transient: tried again after an exponential backoff (per resource, at most 5 minutes).
    case retry
    /// A person must act (a missing image, a tampered artifact): not tried again until the
    /// resource's desired state changes or `agent retry`.
    case stalled
    /// The rollout failed and was rolled back: the planner holds the failed revision.
    case rolledBack
  }

  public var kind: Kind
  public var description: String

  public init(_ kind: Kind, _ description: String) {
    self.kind = kind
    self.description = description
  }

  /// The failure an error thrown by an action stands for: `Stalled` stalls, a rolled-back rollout
  /// is held by the planner, anything else is retried.
  static func from(_ error: any Error) -> StepFailure {
    switch error {
    case let stalled as Stalled: return StepFailure(.stalled, stalled.description)
    case let failed as RolloutFailed: return StepFailure(.rolledBack, failed.description)
    default: return StepFailure(.retry, "\(error)")
    }
  }
}

/// An error retrying cannot fix: the resource stalls until a person acts.
public struct Stalled: Error, Sendable, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// A peer that does the work (a Ray cluster) did not answer: the action is retried with backoff,
/// and a rollout in flight keeps its step and its traffic split meanwhile (it is not rolled back
/// for what is not its revision's fault).
public struct Unreachable: Error, Sendable, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// Exponential backoff of a failing resource: `base`, doubled per failed attempt, capped.
public struct Backoff: Sendable {
  public var base: TimeInterval
  public var cap: TimeInterval

  public init(base: TimeInterval = 5, cap: TimeInterval = 300) {
    self.base = base
    self.cap = cap
  }

  /// The wait after the `attempts`-th failure in a row (1: `base`).
  public func delay(afterAttempts attempts: Int) -> TimeInterval {
    min(cap, base * pow(2, Double(max(0, min(attempts - 1, 30)))))
  }
}
