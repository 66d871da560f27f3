/// A training pipeline: steps whose successful run registers a version of `model`.
public struct Pipeline: Sendable, Hashable, Encodable {
  public var metadata: ObjectMeta
  public var spec: Spec

  public struct Spec: Sendable, Hashable, Encodable {
    public var model: String
    /// Repo-relative folder the steps run in (default: the repository root).
    public var workdir: String = "."
    public var image: String?
    /// Where the steps run (nil: the agent's runtime; `docker` needs `image`).
    public var runtime: Deployment.Runtime?
    /// With `runtime: ray`: what each step's job asks the cluster for.
    public var resources: RayResources?
    public var params: [String: String] = [:]
    public var inputs: [Input] = []
    public var steps: [Step]
    public var triggers = Triggers()
    /// Retries per step, with exponential backoff.
    public var retries = 0
    /// Whole-run timeout.
    public var timeout: ManifestDuration?
  }

  public struct Input: Sendable, Hashable, Encodable {
    public enum Source: Sendable, Hashable, Encodable {
      /// A file or folder on the agent's host: its content digest is the version.
      case hostPath(String)
      /// A DVC pointer file in the repo: its recorded md5 is the version.
      case dvc(String)
    }
    public var name: String
    public var source: Source
  }

  public struct Step: Sendable, Hashable, Encodable {
    public enum Command: Sendable, Hashable, Encodable {
      /// `run:`, executed by `/bin/sh -c`.
      case shell(String)
      /// `command:`, executed directly.
      case exec([String])
    }
    public var name: String
    public var command: Command
    public var env: [String: String] = [:]
    public var timeout: ManifestDuration?
  }

  public struct Triggers: Sendable, Hashable, Encodable {
    public var onSpecChange = true
    public var onInputChange = true
    public var schedule: CronSchedule?
    /// IANA zone the schedule is read in (default UTC).
    public var timezone: String?
    /// Monitors whose firing starts a run.
    public var onAlert: [String] = []
  }
}

extension Pipeline {
  /// `MODELOPS_PARAM_<NAME>` for a param: uppercased, `-` turned into `_` (the run contract).
  public static func paramVariable(_ name: String) -> String { "MODELOPS_PARAM_\(Names.variableSuffix(name))" }

  /// `MODELOPS_INPUT_<NAME>` for an input.
  public static func inputVariable(_ name: String) -> String { "MODELOPS_INPUT_\(Names.variableSuffix(name))" }
}
