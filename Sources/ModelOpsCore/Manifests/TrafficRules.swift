/// Where a request carries a value the router can route on: a header or a cookie, by name.
public enum TrafficKey: Sendable, Hashable, Codable {
  case header(String)
  case cookie(String)

  public var description: String {
    switch self {
    case .header(let name): return "header \(name)"
    case .cookie(let name): return "cookie \(name)"
    }
  }
}

/// A request that carries `value` under `key` goes to the revision being rolled out.
public struct TrafficMatch: Sendable, Hashable, Codable {
  public var key: TrafficKey
  public var value: String

  public init(key: TrafficKey, value: String) {
    self.key = key
    self.value = value
  }
}

/// How a canary's requests are split beyond the step's weight: A/B matches (a matching request
/// reaches the new revision, and no other request does), stickiness (a client's key picks its
/// side, so it does not flip between versions while the canary runs), and how a mirror step's
/// pairs of answers are compared.
public struct CanaryRouting: Sendable, Hashable, Codable {
  public var match: [TrafficMatch] = []
  public var sticky: TrafficKey?
  public var compare = AnswerComparison()

  public init(match: [TrafficMatch] = [], sticky: TrafficKey? = nil, compare: AnswerComparison = AnswerComparison()) {
    self.match = match
    self.sticky = sticky
    self.compare = compare
  }

  /// The bucket (0…99) of a sticky key's value: the same on every router and across restarts
  /// (64-bit FNV-1a of its UTF-8 bytes; Swift's own hashing is seeded per process). A request
  /// whose bucket is below the canary weight goes to the new revision: as the weight only grows,
  /// a client on the new revision stays there.
  public static func bucket(of value: some StringProtocol) -> Int {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in value.utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01b3
    }
    return Int(hash % 100)
  }
}

// As written in manifests: `{header: NAME}` or `{cookie: NAME}`, a match with `value` beside it.
private enum TrafficField: String, CodingKey {
  case header, cookie, value
}

extension TrafficKey {
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: TrafficField.self)
    if let name = try c.decodeIfPresent(String.self, forKey: .header) {
      self = .header(name)
    } else {
      self = .cookie(try c.decode(String.self, forKey: .cookie))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: TrafficField.self)
    switch self {
    case .header(let name): try c.encode(name, forKey: .header)
    case .cookie(let name): try c.encode(name, forKey: .cookie)
    }
  }
}

extension TrafficMatch {
  public init(from decoder: any Decoder) throws {
    key = try TrafficKey(from: decoder)
    value = try decoder.container(keyedBy: TrafficField.self).decode(String.self, forKey: .value)
  }

  public func encode(to encoder: any Encoder) throws {
    try key.encode(to: encoder)
    var c = encoder.container(keyedBy: TrafficField.self)
    try c.encode(value, forKey: .value)
  }
}
