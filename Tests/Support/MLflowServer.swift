import Drivers
import Foundation

/// A real MLflow tracking server (PyPI `mlflow`, SQLite backend, local artifact root behind its
/// artifact proxy) on a free loopback port, stopped when released. `mlflow` is found through
/// $MODELOPS_MLFLOW, else `.venv-mlflow/bin/mlflow` in the repository (what .ci/run installs), else PATH.
public final class MLflowServer {
  let child: ChildProcess
  /// Its database, artifacts and log; removed with it.
  public let folder: String
  public let url: String

  public init() throws {
    folder = FileManager.default.temporaryDirectory.appendingPathComponent("modelops-mlflow-\(UUID().uuidString)").path
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
    // Its own process group (ChildProcess): its worker processes stop with it.
    child = try ChildProcess.spawn(
      [
        mlflow, "server", "--backend-store-uri", "sqlite:///\(folder)/mlflow.db", "--artifacts-destination",
        "\(folder)/artifacts", "--serve-artifacts", "--host", "127.0.0.1", "--port", "\(port)", "--workers", "1",
      ], in: folder, environment: ChildEnvironment.base(), log: folder + "/mlflow.log")
    let deadline = Date().addingTimeInterval(90)
    while Date() < deadline, kill(child.pid, 0) == 0 {
      if (try? HTTPClient.get(url + "/health", timeout: 1))?.status == 200 { return }
      usleep(250_000)
    }
    let log = (try? String(contentsOfFile: folder + "/mlflow.log", encoding: .utf8)) ?? ""
    kill(-child.pid, SIGKILL)
    throw FixtureError("mlflow server did not start on \(url): \(log.suffix(2000))")
  }

  deinit {
    kill(-child.pid, SIGKILL)
    _ = child.wait(until: Date().addingTimeInterval(10))
    try? FileManager.default.removeItem(atPath: folder)
  }

  /// GET under `/api/2.0/`, the JSON object answered.
  public func get(_ path: String) throws -> [String: Any] {
    let response = try HTTPClient.get(url + "/api/2.0/" + path, timeout: 10)
    return (try JSONSerialization.jsonObject(with: response.body) as? [String: Any]) ?? [:]
  }
}
