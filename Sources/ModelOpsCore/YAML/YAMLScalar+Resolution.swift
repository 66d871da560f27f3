/// The type a scalar resolves to under the YAML 1.2 core schema.
///
/// 1.2, not 1.1: `yes`, `no`, `on` and `off` are strings, and `1:30` is not a base-60 number.
public enum ResolvedScalar: Sendable, Equatable {
  case null
  case bool(Bool)
  case int(Int)
  case float(Double)
  case string(String)

  var typeDescription: String {
    switch self {
    case .null: return "null"
    case .bool: return "a boolean"
    case .int: return "an integer"
    case .float: return "a number"
    case .string: return "a string"
    }
  }
}

extension YAMLScalar {
  /// The scalar resolved: quoted and block scalars are strings; plain ones follow the core schema.
  public var resolved: ResolvedScalar {
    if style != .plain || forcedString { return .string(value) }
    return Self.resolvePlain(value)
  }

  static func resolvePlain(_ text: String) -> ResolvedScalar {
    guard let first = text.utf8.first else { return .null }
    switch text {
    case "~", "null", "Null", "NULL": return .null
    case "true", "True", "TRUE": return .bool(true)
    case "false", "False", "FALSE": return .bool(false)
    case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .float(.infinity)
    case "-.inf", "-.Inf", "-.INF": return .float(-.infinity)
    case ".nan", ".NaN", ".NAN": return .float(.nan)
    default: break
    }
    // Only text starting like a number can be one: skip the parse for every other string.
    let startsNumeric =
      (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) || first == UInt8(ascii: "-")
      || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
    guard startsNumeric else { return .string(text) }
    if text.hasPrefix("0x"), let v = Int(text.dropFirst(2), radix: 16) { return .int(v) }
    if text.hasPrefix("0o"), let v = Int(text.dropFirst(2), radix: 8) { return .int(v) }
    if isDecimalInteger(text), let v = Int(text) { return .int(v) }
    if isCoreFloat(text), let v = Double(text) { return .float(v) }
    return .string(text)
  }

  /// `[-+]?[0-9]+`
  private static func isDecimalInteger(_ text: String) -> Bool {
    var digits = text.utf8[...]
    if let f = digits.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") {
      digits = digits.dropFirst()
    }
    return !digits.isEmpty && digits.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
  }

  /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
  private static func isCoreFloat(_ text: String) -> Bool {
    var bytes = Array(text.utf8)[...]
    func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
    if let f = bytes.first, f == UInt8(ascii: "-") || f == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
    let intDigits = bytes.prefix(while: isDigit).count
    bytes = bytes.dropFirst(intDigits)
    var fracDigits = 0
    if bytes.first == UInt8(ascii: ".") {
      bytes = bytes.dropFirst()
      fracDigits = bytes.prefix(while: isDigit).count
      bytes = bytes.dropFirst(fracDigits)
    }
    guard intDigits + fracDigits > 0 else { return false }
    if let e = bytes.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
      bytes = bytes.dropFirst()
      if let s = bytes.first, s == UInt8(ascii: "-") || s == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
      let expDigits = bytes.prefix(while: isDigit).count
      guard expDigits > 0 else { return false }
      bytes = bytes.dropFirst(expDigits)
    }
    return bytes.isEmpty
  }
}
