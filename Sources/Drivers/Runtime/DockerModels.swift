import Foundation

/// What a container is made from: the parts of `POST /containers/create` the agent uses.
public struct ContainerSpec: Sendable {
  public struct Bind: Sendable, Hashable {
    public var host: String
    public var container: String
    public var readOnly: Bool

    public init(host: String, container: String, readOnly: Bool) {
      self.host = host
      self.container = container
      self.readOnly = readOnly
    }
  }

  public var name: String
  public var image: String
  /// nil: the image's own command.
  public var command: [String]?
  public var env: [String: String] = [:]
  public var labels: [String: String] = [:]
  public var workingDir: String?
  public var binds: [Bind] = []
  /// A port inside the container published on 127.0.0.1 of the host.
  public var publish: (container: Int, host: Int)?
  public var memory: Int64?
  public var cpus: Double?

  public init(name: String, image: String) {
    self.name = name
    self.image = image
  }

  var engineJSON: [String: Any] {
    // An init process as PID 1 (docker-init, podman's catatonit) passes SIGTERM on: a program
    // run as PID 1 itself ignores it, and every stop would wait out the grace period.
    // Bind mounts as `Mounts` objects, not `host:container:ro` strings: a path with a colon in it
    // stays one path.
    var host: [String: Any] = [
      "Mounts": binds.map { ["Type": "bind", "Source": $0.host, "Target": $0.container, "ReadOnly": $0.readOnly] },
      "Init": true,
    ]
    var object: [String: Any] = [
      "Image": image, "Env": env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }, "Labels": labels,
    ]
    if let command { object["Cmd"] = command }
    if let workingDir { object["WorkingDir"] = workingDir }
    if let publish {
      object["ExposedPorts"] = ["\(publish.container)/tcp": [String: Any]()]
      host["PortBindings"] = ["\(publish.container)/tcp": [["HostIp": "127.0.0.1", "HostPort": "\(publish.host)"]]]
    }
    if let memory { host["Memory"] = memory }
    if let cpus { host["NanoCpus"] = Int64(cpus * 1e9) }
    object["HostConfig"] = host
    return object
  }
}

/// `GET /containers/{id}/json`, the parts the agent reads.
public struct ContainerInfo: Sendable, Decodable {
  public struct State: Sendable, Decodable {
    public var running: Bool
    public var exitCode: Int
    public var oomKilled: Bool

    enum CodingKeys: String, CodingKey {
      case running = "Running"
      case exitCode = "ExitCode"
      case oomKilled = "OOMKilled"
    }
  }

  public struct Config: Sendable, Decodable {
    public var labels: [String: String]?

    enum CodingKeys: String, CodingKey {
      case labels = "Labels"
    }
  }

  public struct HostConfig: Sendable, Decodable {
    public var memory: Int64?
    public var nanoCpus: Int64?

    enum CodingKeys: String, CodingKey {
      case memory = "Memory"
      case nanoCpus = "NanoCpus"
    }
  }

  public struct Mount: Sendable, Decodable {
    public var source: String?
    public var destination: String?
    /// Writable.
    public var rw: Bool?

    enum CodingKeys: String, CodingKey {
      case source = "Source"
      case destination = "Destination"
      case rw = "RW"
    }
  }

  public var id: String
  public var name: String
  public var state: State
  public var config: Config
  public var hostConfig: HostConfig?
  public var mounts: [Mount]?

  enum CodingKeys: String, CodingKey {
    case id = "Id"
    case name = "Name"
    case state = "State"
    case config = "Config"
    case hostConfig = "HostConfig"
    case mounts = "Mounts"
  }
}

/// One entry of `GET /containers/json`.
public struct ContainerSummary: Sendable, Decodable {
  public var id: String
  public var names: [String]
  public var labels: [String: String]
  public var state: String

  enum CodingKeys: String, CodingKey {
    case id = "Id"
    case names = "Names"
    case labels = "Labels"
    case state = "State"
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    id = try c.decode(String.self, forKey: .id)
    names = try c.decodeIfPresent([String].self, forKey: .names) ?? []
    labels = try c.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
    state = try c.decodeIfPresent(String.self, forKey: .state) ?? ""
  }
}
