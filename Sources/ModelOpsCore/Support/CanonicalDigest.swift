import Foundation

/// The SHA-256 of a value's canonical JSON (sorted keys): equal specs give equal digests,
/// whatever order their YAML was written in.
public func canonicalDigest<T: Encodable>(_ value: T) -> String {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
  // Encoding plain value types of this module cannot fail; a failure would be a bug worth seeing.
  guard let data = try? encoder.encode(value) else { return "unencodable" }
  var hasher = SHA256()
  hasher.update(data)
  return hasher.hexDigest()
}
