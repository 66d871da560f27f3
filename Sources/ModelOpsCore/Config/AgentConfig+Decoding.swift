extension AgentConfig {
  /// Parses `agent.yaml`; errors are located like manifest errors.
  public static func parse(_ bytes: [UInt8], path: String) -> Result<AgentConfig, ConfigError> {
    let c = DecodeContext(path: path)
    let documents: [YAMLDocument]
    do {
      documents = try YAMLComposer.compose(bytes)
    } catch {
      let location = SourceLocation(path: path, line: error.line, column: error.column)
      return .failure(ConfigError(diagnostics: [Diagnostic(.error, at: location, error.message)]))
    }
    guard documents.count == 1, let root = documents.first?.root else {
      let location = SourceLocation(path: path, line: 1, column: 1)
      return .failure(ConfigError(diagnostics: [Diagnostic(.error, at: location, "expected one YAML document")]))
    }
    let config = ConfigDecoder.decode(root, c)
    guard let config, c.diagnostics.isEmpty else {
      return .failure(ConfigError(diagnostics: c.diagnostics.sortedForDisplay()))
    }
    return .success(config)
  }
}

/// Why `agent.yaml` was refused: every problem, located.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
  public var diagnostics: [Diagnostic]
  public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

enum ConfigDecoder {
  static func decode(_ root: YAMLNode, _ c: DecodeContext) -> AgentConfig? {
    let allowed = [
      "source", "state", "registry", "runtime", "prometheus", "api", "webhooks", "notify", "writeBack", "training",
      "runAs", "signing", "ray",
    ]
    guard let f = Fields(root, path: "", allowed: allowed, context: c), let sourceNode = f.required("source"),
      let source = decodeSource(sourceNode, c)
    else { return nil }
    var config = AgentConfig(source: source)
    if let n = f["state"], let state = c.nonEmptyString(n, "state") { config.state = state }
    if let n = f["runAs"], let user = c.nonEmptyString(n, "runAs") { config.runAs = user }
    if let n = f["registry"], let r = Fields(n, path: "registry", allowed: ["type", "url"], context: c) {
      switch r["type"].flatMap({ c.string($0, "registry.type") }) {
      case "builtin", nil: config.registry = .builtin
      case "mlflow":
        if let url = r.required("url").flatMap({ c.nonEmptyString($0, "registry.url") }) {
          config.registry = .mlflow(url: url)
        }
      case let other?: c.error("unknown registry type '\(other)' (expected builtin or mlflow)", at: n)
      }
    }
    if let n = f["runtime"],
      let r = Fields(n, path: "runtime", allowed: ["type", "socket", "pull", "tls"], context: c)
    {
      switch r["type"].flatMap({ c.string($0, "runtime.type") }) {
      case "process", nil:
        for key in ["socket", "pull", "tls"] {
          if let extra = r[key] { c.error("'runtime.\(key)' is for the docker runtime", at: extra) }
        }
        config.runtime = .process
      case "docker": config.runtime = .docker(Self.docker(r, context: c))
      case let other?: c.error("unknown runtime type '\(other)' (expected process or docker)", at: n)
      }
    }
    if let n = f["prometheus"], let p = Fields(n, path: "prometheus", allowed: ["url"], context: c) {
      config.prometheusURL = p.required("url").flatMap { n -> String? in
        guard let url = c.nonEmptyString(n, "prometheus.url") else { return nil }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
          c.error("'prometheus.url' must be an http:// or https:// URL", at: n)
          return nil
        }
        guard !Self.holdsPassword(url) else {
          c.error("'prometheus.url' must not hold a password", at: n)
          return nil
        }
        return url
      }
    }
    if let n = f["training"], let t = Fields(n, path: "training", allowed: ["maxConcurrentRuns"], context: c),
      let limit = t["maxConcurrentRuns"].flatMap({ c.int($0, "training.maxConcurrentRuns", in: 1...64) })
    {
      config.maxConcurrentRuns = limit
    }
    if let n = f["api"], let a = Fields(n, path: "api", allowed: ["listen", "token"], context: c) {
      config.apiListen = a["listen"].flatMap { DeploymentDecoder.decodeListen($0, "api.listen", deployment: "", c) }
      config.apiToken = a["token"].flatMap { secret($0, "api.token", c) }
    }
    if let n = f["webhooks"], let w = Fields(n, path: "webhooks", allowed: ["git"], context: c),
      let g = w["git"], let git = Fields(g, path: "webhooks.git", allowed: ["secret"], context: c)
    {
      config.webhookSecret = git.required("secret").flatMap { secret($0, "webhooks.git.secret", c) }
    }
    if let n = f["notify"] {
      config.notify =
        c.list(n, "notify") { item, path in
          guard let t = Fields(item, path: path, allowed: ["url", "events"], context: c),
            let urlNode = t.required("url"), let url = c.nonEmptyString(urlNode, "\(path).url")
          else { return nil }
          guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            c.error("'\(path).url' must be an http:// or https:// URL", at: urlNode)
            return nil
          }
          var events: [String] = []
          if let n = t["events"] {
            events =
              c.list(n, "\(path).events") { event, eventPath in
                c.oneOf(event, eventPath, AgentConfig.NotifyEvent.allCases)?.rawValue
              } ?? []
          }
          return AgentConfig.Notify(url: url, events: events)
        } ?? []
    }
    if let n = f["writeBack"] { config.writeBack = c.bool(n, "writeBack") ?? false }
    if let n = f["signing"] { config.signing = decodeSigning(n, c) }
    if let n = f["ray"] { config.ray = decodeRay(n, c) }
    return config
  }

  /// `ray: {address: URL, token: {env: NAME}, callback: URL, serve: {host, port}}`.
  private static func decodeRay(_ node: YAMLNode, _ c: DecodeContext) -> AgentConfig.Ray? {
    guard let f = Fields(node, path: "ray", allowed: ["address", "token", "callback", "serve"], context: c),
      let n = f.required("address"), let address = httpURL(n, "ray.address", c)
    else { return nil }
    var ray = AgentConfig.Ray(address: address.hasSuffix("/") ? String(address.dropLast()) : address)
    ray.token = f["token"].flatMap { secret($0, "ray.token", c) }
    if let n = f["callback"], let url = httpURL(n, "ray.callback", c) {
      ray.callback = url.hasSuffix("/") ? String(url.dropLast()) : url
    }
    if let n = f["serve"], let s = Fields(n, path: "ray.serve", allowed: ["host", "port"], context: c) {
      ray.serveHost = s["host"].flatMap { c.nonEmptyString($0, "ray.serve.host") }
      if let p = s["port"] { ray.servePort = c.int(p, "ray.serve.port", in: 1...65535) ?? ray.servePort }
    }
    return ray
  }

  /// An `http://` or `https://` URL without a password in it.
  private static func httpURL(_ node: YAMLNode, _ field: String, _ c: DecodeContext) -> String? {
    guard let url = c.nonEmptyString(node, field) else { return nil }
    guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
      c.error("'\(field)' must be an http:// or https:// URL, got '\(url)'", at: node)
      return nil
    }
    guard !holdsPassword(url) else {
      c.error("'\(field)' must not hold a password (use ray.token)", at: node)
      return nil
    }
    return url
  }

  /// `signing: {key: {file: PATH}, allowedSigners: PATH, requireSigned: BOOL}`.
  private static func decodeSigning(_ node: YAMLNode, _ c: DecodeContext) -> AgentConfig.Signing? {
    guard let f = Fields(node, path: "signing", allowed: ["key", "allowedSigners", "requireSigned"], context: c)
    else { return nil }
    var signing = AgentConfig.Signing()
    if let n = f["key"] {
      switch secret(n, "signing.key", c) {
      case .file(let path)?: signing.key = path
      case .environment?: c.error("'signing.key' must be {file: PATH}: ssh-keygen signs with a key file", at: n)
      case nil: break
      }
    }
    signing.allowedSigners = f["allowedSigners"].flatMap { c.nonEmptyString($0, "signing.allowedSigners") }
    if let n = f["requireSigned"] { signing.requireSigned = c.bool(n, "signing.requireSigned") ?? false }
    if f["key"] == nil, f["allowedSigners"] == nil {
      c.error("'signing' needs 'key' (to sign new versions) or 'allowedSigners' (to check them)", at: node)
    }
    return signing
  }

  private static func decodeSource(_ node: YAMLNode, _ c: DecodeContext) -> AgentConfig.Source? {
    let allowed = ["url", "branch", "path", "interval", "fetchTimeout", "auth", "verify"]
    guard let f = Fields(node, path: "source", allowed: allowed, context: c),
      let url = f.required("url").flatMap({ c.nonEmptyString($0, "source.url") })
    else { return nil }
    var source = AgentConfig.Source(url: url)
    if Self.holdsPassword(url) {
      c.error("'source.url' must not hold a password or token: use 'source.auth'", at: f["url"] ?? node)
    }
    if let n = f["branch"], let branch = c.nonEmptyString(n, "source.branch") { source.branch = branch }
    if let n = f["path"], let path = c.string(n, "source.path") {
      if let normal = Names.repoRelative(path.isEmpty ? "." : path) {
        source.path = normal == "." ? "" : normal
      } else {
        c.error("'source.path' must be a folder inside the repository, got '\(path)'", at: n)
      }
    }
    if let n = f["interval"] { source.interval = c.duration(n, "source.interval") ?? source.interval }
    if let n = f["fetchTimeout"] {
      source.fetchTimeout = c.duration(n, "source.fetchTimeout") ?? source.fetchTimeout
    }
    if let n = f["auth"], let a = Fields(n, path: "source.auth", allowed: ["token", "sshKey"], context: c) {
      if let t = a["token"] {
        source.auth = secret(t, "source.auth.token", c).map { .token($0) }
      } else if let k = a["sshKey"],
        let key = Fields(k, path: "source.auth.sshKey", allowed: ["file", "passphrase"], context: c),
        let file = key.required("file").flatMap({ c.nonEmptyString($0, "source.auth.sshKey.file") })
      {
        source.auth = .sshKey(
          file: file, passphrase: key["passphrase"].flatMap { secret($0, "source.auth.sshKey.passphrase", c) })
      }
    }
    if let n = f["verify"],
      let v = Fields(n, path: "source.verify", allowed: ["allowedSigners", "gpgKeyring"], context: c)
    {
      source.allowedSigners = v["allowedSigners"].flatMap { c.nonEmptyString($0, "source.verify.allowedSigners") }
      source.gpgKeyring = v["gpgKeyring"].flatMap { c.nonEmptyString($0, "source.verify.gpgKeyring") }
      if v["allowedSigners"] == nil, v["gpgKeyring"] == nil {
        c.error(
          "'source.verify' needs 'allowedSigners' (an OpenSSH allowed_signers file) or 'gpgKeyring' (a GPG keyring)",
          at: n)
      }
    }
    return source
  }

  /// `{env: NAME}` or `{file: PATH}`; an inline string is refused so secrets stay out of files.
  static func secret(_ node: YAMLNode, _ field: String, _ c: DecodeContext) -> SecretReference? {
    if node.scalar != nil {
      c.error("'\(field)' must be {env: NAME} or {file: PATH}: secrets are never written inline", at: node)
      return nil
    }
    guard let f = Fields(node, path: field, allowed: ["env", "file"], context: c) else { return nil }
    switch (f["env"], f["file"]) {
    case (let e?, nil): return c.nonEmptyString(e, "\(field).env").map { .environment($0) }
    case (nil, let p?): return c.nonEmptyString(p, "\(field).file").map { .file($0) }
    default:
      c.error("'\(field)' needs exactly one of 'env' or 'file'", at: node)
      return nil
    }
  }

  /// A secret written inline: `scheme://user:password@host…`, or any user part of an http(s)
  /// URL (a token as the user name); `ssh://git@host/…` names a user, not a secret.
  static func docker(_ r: Fields, context c: DecodeContext) -> AgentConfig.Docker {
    var docker = AgentConfig.Docker()
    if let n = r["socket"], let socket = c.nonEmptyString(n, "runtime.socket") {
      if socket.hasPrefix("tcp://") {
        let rest = socket.dropFirst("tcp://".count)
        if rest.isEmpty || rest.contains("/") || rest.contains("@") {
          c.error("'runtime.socket' must be a socket path, unix://PATH or tcp://HOST:PORT", at: n)
        }
      } else if socket.contains("://") && !socket.hasPrefix("unix://") {
        c.error("'runtime.socket' must be a socket path, unix://PATH or tcp://HOST:PORT", at: n)
      }
      docker.socket = socket
    }
    if let n = r["pull"] {
      switch c.string(n, "runtime.pull") {
      case "never": docker.pullMissing = false
      case "missing": docker.pullMissing = true
      case let other?: c.error("unknown pull policy '\(other)' (expected never or missing)", at: n)
      case nil: break
      }
    }
    if let n = r["tls"], let t = Fields(n, path: "runtime.tls", allowed: ["ca", "cert", "key"], context: c) {
      docker.tlsCA = t["ca"].flatMap { c.nonEmptyString($0, "runtime.tls.ca") }
      docker.tlsCertificate = t["cert"].flatMap { c.nonEmptyString($0, "runtime.tls.cert") }
      docker.tlsKey = t["key"].flatMap { c.nonEmptyString($0, "runtime.tls.key") }
      if !docker.socket.hasPrefix("tcp://") { c.error("'runtime.tls' needs a tcp:// socket", at: n) }
      if (docker.tlsCertificate == nil) != (docker.tlsKey == nil) {
        c.error("'runtime.tls' needs both 'cert' and 'key', or neither", at: n)
      }
    }
    return docker
  }

  static func holdsPassword(_ url: String) -> Bool {
    guard let scheme = url.range(of: "://") else { return false }
    let authority = url[scheme.upperBound...].prefix { $0 != "/" }
    guard let at = authority.lastIndex(of: "@") else { return false }
    return authority[..<at].contains(":") || url.lowercased().hasPrefix("http")
  }
}
