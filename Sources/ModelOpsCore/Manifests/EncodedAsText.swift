/// A value written in manifests as text (`30s`, `512Mi`, `model@alias`), and encoded back the same way.
public protocol EncodedAsText: Encodable, CustomStringConvertible {}

extension EncodedAsText {
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(description)
  }
}
