import Foundation
import ModelOpsCore

/// The parsers that read what others send or write: each must take any bytes without crashing,
/// hanging or growing without bound, and say what is wrong as an error value.
enum FuzzTargets {
  static let all: [String: @Sendable ([UInt8]) -> Void] = [
    "manifests": manifests, "exposition": exposition, "alerts": alerts,
  ]

  /// A manifest file through the whole loader (YAML with its limits, decoding, references), and
  /// the same bytes as `agent.yaml`.
  static func manifests(_ bytes: [UInt8]) {
    var tree = MemoryTree()
    tree.files["manifests/fuzzed.yaml"] = bytes
    _ = ManifestLoader.load(from: tree, path: "manifests")
    _ = AgentConfig.parse(bytes, path: "agent.yaml")
  }

  /// A scrape's Prometheus text exposition, and a Prometheus query API answer.
  static func exposition(_ bytes: [UInt8]) {
    _ = try? PrometheusText.parse(String(decoding: bytes, as: UTF8.self))
    _ = try? PrometheusQuery.values(Data(bytes), status: 200)
  }

  /// An Alertmanager webhook payload (`POST /hooks/alertmanager`).
  static func alerts(_ bytes: [UInt8]) {
    _ = try? AlertmanagerPayload.decode(Data(bytes))
  }
}
