import Drivers
import Foundation

/// A real MLflow tracking server (PyPI `mlflow`, SQLite backend, local artifact root behind its
/// artifact proxy) on a free loopback port, stopped when released. `mlflow` is found through
/// $MODELOPS_MLFLOW, else `.venv-mlflow/bin/mlflow` in the repository (what .ci/run installs), else PATH.
public final class MLflowServer {
  let peer: Peer
  /// Its database, artifacts and log; removed with it.
  public let folder: String
  public let url: String

  public init() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("modelops-mlflow-\(UUID().uuidString)")
      .path
    self.folder = folder
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let candidates =
      [
        ProcessInfo.processInfo.environment["MODELOPS_MLFLOW"],
        root.appendingPathComponent(".venv-mlflow/bin/mlflow").path,
      ].compactMap { $0 }
      + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/mlflow" }
    guard let mlflow = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
      throw FixtureError("mlflow is not installed: run .ci/run, or set MODELOPS_MLFLOW")
    }
    let port = try FreePort.pick()
    url = "http://127.0.0.1:\(port)"
    peer = try Peer(
      [
        mlflow, "server", "--backend-store-uri", "sqlite:///\(folder)/mlflow.db", "--artifacts-destination",
        "\(folder)/artifacts", "--serve-artifacts", "--host", "127.0.0.1", "--port", "\(port)", "--workers", "1",
      ], in: folder, log: folder + "/mlflow.log", ready: url + "/health", seconds: 90)
  }

  deinit {
    peer.stop()
    try? FileManager.default.removeItem(atPath: folder)
  }

  /// GET under `/api/2.0/`, the JSON object answered.
  public func get(_ path: String) throws -> [String: Any] {
    let response = try HTTPClient.get(url + "/api/2.0/" + path, timeout: 10)
    return (try JSONSerialization.jsonObject(with: response.body) as? [String: Any]) ?? [:]
  }
}
