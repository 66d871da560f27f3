/// The agent's own configuration (`agent.yaml`, SPEC §5): where the manifests come from and
/// where state lives. Not part of the manifests repository.
public struct AgentConfig: Sendable, Hashable {
  public struct Source: Sendable, Hashable {
    /// Local path, `file://`, `https://` or `ssh://`.
    public var url: String
    public var branch = "main"
    /// Repo-relative folder of the manifests (`""`: the root).
    public var path = ""
    public var interval = ManifestDuration.seconds(30)
    /// How long a fetch may take before the cycle reports it failed (a stalled remote).
    public var fetchTimeout = ManifestDuration.seconds(120)
    public var auth: Auth?
    /// `allowed_signers` file: apply only commits signed by these SSH keys.
    public var allowedSigners: String?
    /// A GPG keyring: apply only commits signed by its keys (with or beside `allowedSigners`).
    public var gpgKeyring: String?
  }

  public enum Auth: Sendable, Hashable {
    case token(SecretReference)
    case sshKey(file: String, passphrase: SecretReference?)
  }

  public enum Registry: Sendable, Hashable {
    case builtin
    case mlflow(url: String)
  }

  public enum Runtime: Sendable, Hashable {
    case process
    case docker(Docker)
  }

  /// A Docker engine (or podman's compatible service).
  public struct Docker: Sendable, Hashable {
    /// A unix socket path (`unix://PATH` too) or `tcp://HOST:PORT`.
    public var socket = "/var/run/docker.sock"
    /// `missing`: pull an image the engine lacks; `never` (the default): that is an error.
    public var pullMissing = false
    /// For `tcp://` with TLS (PEM files): the CA, and this client's certificate and key.
    public var tlsCA: String?
    public var tlsCertificate: String?
    public var tlsKey: String?

    public init() {}
  }

  /// A Ray cluster (`ray:`), reached through its dashboard's REST API: `runtime: ray` pipelines
  /// run their steps as Ray jobs there, `runtime: ray` deployments serve as Serve applications.
  public struct Ray: Sendable, Hashable {
    /// The dashboard, `http://HOST:8265` (KubeRay: the head service's dashboard port).
    public var address: String
    /// A bearer token for a dashboard behind an authenticating proxy.
    public var token: SecretReference?
    /// The agent's API as the Ray nodes reach it (jobs send their output there); nil: from
    /// `api.listen`.
    public var callback: String?
    /// Where the agent's router reaches Serve's HTTP proxy (nil host: the dashboard's host).
    public var serveHost: String?
    public var servePort = 8000

    public init(address: String) { self.address = address }

    /// The host of `address` (`http://HOST:PORT/…`).
    public var dashboardHost: String {
      let rest = address.split(separator: "://", maxSplits: 1).last.map(String.init) ?? address
      let authority = rest.split(separator: "/", maxSplits: 1).first.map(String.init) ?? rest
      if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
        return String(authority[authority.index(after: authority.startIndex)..<close])
      }
      return authority.split(separator: ":").first.map(String.init) ?? authority
    }
  }

  public struct Notify: Sendable, Hashable {
    public var url: String
    /// Empty: every event.
    public var events: [String]
  }

  /// What a `notify` target can ask for.
  public enum NotifyEvent: String, Sendable, CaseIterable {
    case rollback
    case runFailed = "run-failed"
    case applyFailed = "apply-failed"
    case promoted
    case monitorFired = "monitor-fired"
  }

  public var source: Source
  public var state = "/var/lib/modelops"
  public var registry = Registry.builtin
  public var runtime = Runtime.process
  public var prometheusURL: String?
  public var apiListen: ListenAddress?
  public var apiToken: SecretReference?
  public var webhookSecret: SecretReference?
  public var notify: [Notify] = []
  /// Push a `modelops/rollback/<deployment>` branch on a rollback.
  public var writeBack = false
  /// The user training steps and replicas run as: a user name or uid, or `agent` (the agent's own
  /// user, also when absent).
  public var runAs: String?
  /// Training runs at once (`training.maxConcurrentRuns`); more wait their turn, oldest first.
  public var maxConcurrentRuns = 2
  /// Signed model versions; nil: versions are neither signed nor checked.
  public var signing: Signing?
  /// The Ray cluster of `runtime: ray` pipelines and deployments; nil: none.
  public var ray: Ray?

  /// `signing`: the SSH key that signs each registered version, whose signatures are accepted,
  /// and whether an unsigned version may serve.
  public struct Signing: Sendable, Hashable {
    /// A private key file (`key: {file: PATH}`); nil: this agent only checks.
    public var key: String?
    /// An OpenSSH allowed_signers file; nil: the key's own public key.
    public var allowedSigners: String?
    public var requireSigned = false
  }

  /// The environment variables holding the configuration's secrets (`{env: NAME}`).
  public var secretVariables: Set<String> {
    var references = [apiToken, webhookSecret, ray?.token]
    switch source.auth {
    case .token(let token): references.append(token)
    case .sshKey(_, let passphrase): references.append(passphrase)
    case nil: break
    }
    return Set(
      references.compactMap { reference in
        if case .environment(let name) = reference { return name }
        return nil
      })
  }
}

/// A secret given by reference, never inline: `{env: NAME}` or `{file: PATH}`.
public enum SecretReference: Sendable, Hashable, CustomStringConvertible {
  case environment(String)
  case file(String)

  /// Says where the secret comes from, never what it is.
  public var description: String {
    switch self {
    case .environment(let name): return "$\(name)"
    case .file(let path): return "file \(path)"
    }
  }
}
