import Foundation
import StateStore
import Synchronization

/// The MLflow Model Registry (`registry: {type: mlflow, url: …}`), through its REST API.
///
/// A version is registered as MLflow does it: a run in the experiment `modelops-<model>` gets the
/// run's metrics and the artifact (uploaded through the tracking server's artifact proxy, so the
/// version's `source` resolves), then a model version is created from it with the lineage as
/// `modelops.*` tags; MLflow numbers it, and the agent records that number. Aliases are set and
/// deleted in MLflow (aliases, not the deprecated stages); their history stays in the agent's
/// state, as MLflow keeps none. Serving reads a local, digest-checked copy of each artifact (the
/// builtin store), so a replica never depends on the tracking server being up.
public struct MLflowRegistry: ModelRegistry {
  public let local: BuiltinRegistry
  public let client: MLflowClient
  /// Model → its experiment's id, once the registered model and the experiment are known to exist
  /// (two calls fewer per version).
  let experiments = Experiments()

  final class Experiments: Sendable {
    let ids = Mutex<[String: String]>([:])
  }

  public init(url: String, store: StateStore, folder: String) {
    self.local = BuiltinRegistry(store: store, folder: folder)
    self.client = MLflowClient(url: url)
  }

  public func register(_ version: NewVersion) throws -> Int {
    let digest = try local.storeArtifact(version.artifact)
    let model = version.model
    let experiment: String
    if let known = experiments.ids.withLock({ $0[model] }) {
      experiment = known
    } else {
      do {
        _ = try client.call("POST", "registered-models/create", ["name": model])
      } catch let error as MLflowError where error.code == "RESOURCE_ALREADY_EXISTS" {}
      experiment = try experimentID("modelops-\(model)")
      experiments.ids.withLock { $0[model] = experiment }
    }
    do {
      let number = try createVersion(version, digest: digest, experiment: experiment)
      return try local.record(version, digest: digest, number: number)
    } catch {
      // The model or experiment may have been deleted in MLflow: look them up again next time.
      experiments.ids.withLock { _ = $0.removeValue(forKey: model) }
      throw error
    }
  }

  /// The run (metrics, artifact) and the model version made from it; MLflow's version number.
  private func createVersion(_ version: NewVersion, digest: String, experiment: String) throws -> Int {
    let model = version.model
    let millis = Int64(version.createdAt.timeIntervalSince1970 * 1000)
    let run = try client.call(
      "POST", "runs/create",
      [
        "experiment_id": experiment, "start_time": millis,
        "tags": [["key": "mlflow.runName", "value": version.lineage["run"] ?? "modelops"]],
      ])
    guard let info = (run["run"] as? [String: Any])?["info"] as? [String: Any],
      let runID = info["run_id"] as? String, let artifactURI = info["artifact_uri"] as? String
    else { throw RegistryError("MLflow: runs/create answered without run_id and artifact_uri") }
    guard artifactURI.hasPrefix("mlflow-artifacts:") else {
      throw RegistryError(
        "MLflow stores this run's artifacts at \(artifactURI), which the agent cannot upload to: serve them "
          + "through the tracking server (`mlflow server --serve-artifacts`, the default since MLflow 2)")
    }
    if !version.metrics.isEmpty {
      let metrics = version.metrics.sorted { $0.key < $1.key }.map { key, value -> [String: Any] in
        ["key": key, "value": value, "timestamp": millis, "step": 0]
      }
      _ = try client.call("POST", "runs/log-batch", ["run_id": runID, "metrics": metrics])
    }
    try upload(version.artifact, experiment: experiment, run: runID)
    _ = try client.call(
      "POST", "runs/update",
      ["run_id": runID, "status": "FINISHED", "end_time": Int64(Date().timeIntervalSince1970 * 1000)])
    let tags = ["modelops.artifact_digest": "sha256:\(digest)"].merging(
      version.lineage.map { ("modelops.\($0.key)", $0.value) }, uniquingKeysWith: { a, _ in a })
    let created = try client.call(
      "POST", "model-versions/create",
      [
        "name": model, "source": artifactURI + "/model", "run_id": runID,
        // MLflow caps a tag's value (5,000 characters in older servers): long lineage is cut.
        "tags": tags.sorted { $0.key < $1.key }.map { ["key": $0.key, "value": String($0.value.prefix(5000))] },
      ])
    guard let number = ((created["model_version"] as? [String: Any])?["version"] as? String).flatMap({ Int($0) })
    else { throw RegistryError("MLflow: model-versions/create answered without a version number") }
    return number
  }

  public func moveAlias(model: String, alias: String, to version: Int?, cause: String, at time: Date) throws {
    if let version {
      _ = try client.call("POST", "registered-models/alias", ["name": model, "alias": alias, "version": "\(version)"])
    } else {
      do {
        _ = try client.call("DELETE", "registered-models/alias", ["name": model, "alias": alias])
      } catch let error as MLflowError where error.message.contains("not found") {}  // already gone
    }
    try local.moveAlias(model: model, alias: alias, to: version, cause: cause, at: time)
  }

  public func verify(model: String, version: Int) throws -> Bool { try local.verify(model: model, version: version) }

  public func servingFolder(model: String, version: Int) throws -> URL {
    try local.servingFolder(model: model, version: version)
  }

  public func profile(model: String, version: Int) throws -> Data? { try local.profile(model: model, version: version) }

  /// The local copies only: MLflow's versions are the team's record and are never deleted here.
  public func collectGarbage(model: String, retain: Int, inUse: Set<Int>, at time: Date) throws -> [Int] {
    try local.collectGarbage(model: model, retain: retain, inUse: inUse, at: time)
  }

  private func experimentID(_ name: String) throws -> String {
    do {
      let found = try client.call("GET", "experiments/get-by-name?experiment_name=\(MLflowClient.escape(name))", nil)
      if let id = (found["experiment"] as? [String: Any])?["experiment_id"] as? String { return id }
    } catch let error as MLflowError where error.code == "RESOURCE_DOES_NOT_EXIST" {}
    guard let id = try client.call("POST", "experiments/create", ["name": name])["experiment_id"] as? String else {
      throw RegistryError("MLflow: experiments/create answered without experiment_id")
    }
    return id
  }

  /// Every file of the artifact folder under the run's `model/`, through the artifact proxy.
  private func upload(_ folder: URL, experiment: String, run: String) throws {
    let fm = FileManager.default
    guard let walker = fm.enumerator(atPath: folder.path) else { throw RegistryError("cannot read \(folder.path)") }
    while let relative = walker.nextObject() as? String {
      let file = folder.appendingPathComponent(relative)
      var isFolder: ObjCBool = false
      guard fm.fileExists(atPath: file.path, isDirectory: &isFolder), !isFolder.boolValue else { continue }
      let path = relative.split(separator: "/").map { MLflowClient.escape(String($0)) }.joined(separator: "/")
      try client.upload(
        "mlflow-artifacts/artifacts/\(experiment)/\(run)/artifacts/model/\(path)", Data(contentsOf: file))
    }
  }
}

/// An error MLflow answered: its `error_code` and message, shown on the resource.
public struct MLflowError: Error, Sendable, CustomStringConvertible {
  public var code: String
  public var message: String
  public var description: String { "MLflow \(code): \(message)" }
}

/// MLflow's REST API (`/api/2.0/mlflow/…`) over libcurl, JSON in and out.
public struct MLflowClient: Sendable {
  public let url: String

  public init(url: String) { self.url = url.hasSuffix("/") ? String(url.dropLast()) : url }

  /// Calls `path` under `/api/2.0/mlflow/`; the answer's JSON object, or MLflow's error thrown.
  public func call(_ method: String, _ path: String, _ body: [String: Any]?) throws -> [String: Any] {
    let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
    let response = try HTTPClient.request(
      method, "\(url)/api/2.0/mlflow/\(path)", headers: data == nil ? [:] : ["Content-Type": "application/json"],
      body: data, timeout: 30)
    let object = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any]
    if let code = object?["error_code"] as? String {
      throw MLflowError(code: code, message: object?["message"] as? String ?? "")
    }
    guard (200..<300).contains(response.status), let object else {
      throw MLflowError(code: "HTTP_\(response.status)", message: "\(method) \(path) did not answer JSON")
    }
    return object
  }

  /// PUTs bytes under `/api/2.0/` (the artifact proxy).
  func upload(_ path: String, _ data: Data) throws {
    let response = try HTTPClient.request(
      "PUT", "\(url)/api/2.0/\(path)", headers: ["Content-Type": "application/octet-stream"], body: data,
      timeout: 120)
    guard (200..<300).contains(response.status) else {
      let object = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any]
      throw MLflowError(
        code: object?["error_code"] as? String ?? "HTTP_\(response.status)",
        message: object?["message"] as? String ?? "uploading \(path) failed")
    }
  }

  static func escape(_ text: String) -> String {
    text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?&=")))
      ?? text
  }
}
