/// Naming rules shared by the decoders.
enum Names {
  /// A lowercase DNS label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
  static func isDNSLabel(_ s: String) -> Bool {
    let bytes = Array(s.utf8)
    guard (1...63).contains(bytes.count) else { return false }
    func alnum(_ b: UInt8) -> Bool {
      (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
    }
    guard let first = bytes.first, let last = bytes.last, alnum(first), alnum(last) else { return false }
    return bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") }
  }

  static let dnsLabelRule =
    "use lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"

  /// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
  static func isEnvName(_ s: String) -> Bool {
    guard let first = s.utf8.first, !(first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) else {
      return false
    }
    return s.utf8.allSatisfy { b in
      (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
        || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "_")
    }
  }

  /// A param or input name, which becomes part of an environment variable (`-` turns into `_`).
  static func isVariableSuffix(_ s: String) -> Bool {
    isEnvName(s.replacingOccurrences(of: "-", with: "_"))
  }

  /// The `MODELOPS_PARAM_<NAME>` / `MODELOPS_INPUT_<NAME>` suffix of a name.
  static func variableSuffix(_ s: String) -> String {
    s.replacingOccurrences(of: "-", with: "_").uppercased()
  }

  /// A Prometheus metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
  static func isMetricName(_ s: String) -> Bool {
    guard let first = s.utf8.first, !(first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) else {
      return false
    }
    return s.utf8.allSatisfy { b in
      (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
        || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "_") || b == UInt8(ascii: ":")
    }
  }

  /// Normalises a repo-relative path; nil when it is absolute or climbs out of the repository.
  static func repoRelative(_ s: String) -> String? {
    guard !s.hasPrefix("/"), !s.contains("\0"), !s.contains("\\") else { return nil }
    var parts: [Substring] = []
    for part in s.split(separator: "/") {
      switch part {
      case ".": continue
      case "..":
        guard !parts.isEmpty else { return nil }
        parts.removeLast()
      default: parts.append(part)
      }
    }
    return parts.isEmpty ? "." : parts.joined(separator: "/")
  }
}
