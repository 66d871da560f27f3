import Foundation

/// A Ray job to submit: one attempt of a training step.
public struct RayJobSubmission: Sendable {
  /// Chosen by the agent (`modelops-<run>-<step>-<attempt>`): submitting it again adopts the job.
  public var submissionID: String
  /// A shell command line, run on the node in the job's working_dir.
  public var entrypoint: String
  /// `gcs://_ray_pkg_….zip`.
  public var workingDir: String
  public var env: [String: String]
  public var cpus: Double?
  public var gpus: Double?
  public var memory: Int64?
  public var metadata: [String: String] = [:]

  public init(submissionID: String, entrypoint: String, workingDir: String, env: [String: String]) {
    self.submissionID = submissionID
    self.entrypoint = entrypoint
    self.workingDir = workingDir
    self.env = env
  }
}

/// Where a Ray job is (`GET /api/jobs/{id}`).
public struct RayJobInfo: Sendable {
  public enum Status: String, Sendable {
    case pending = "PENDING", running = "RUNNING", stopped = "STOPPED", succeeded = "SUCCEEDED", failed = "FAILED"
  }
  public var status: Status
  public var message: String
  public var exitCode: Int32?
  /// The node its entrypoint ran on.
  public var nodeID: String?

  public var finished: Bool { [.stopped, .succeeded, .failed].contains(status) }
}

extension RayDashboard {
  /// Submits the job; one already submitted under that id is adopted (nothing is submitted twice).
  public func submit(_ job: RayJobSubmission) throws(RayError) {
    var body: [String: Any] = [
      "entrypoint": job.entrypoint, "submission_id": job.submissionID,
      "runtime_env": ["working_dir": job.workingDir, "env_vars": job.env], "metadata": job.metadata,
    ]
    if let cpus = job.cpus { body["entrypoint_num_cpus"] = cpus }
    if let gpus = job.gpus { body["entrypoint_num_gpus"] = gpus }
    if let memory = job.memory { body["entrypoint_memory"] = memory }
    do {
      _ = try json("POST", "/api/jobs/", body)
    } catch let error where !error.transient && error.description.contains("already exists") {
      return
    }
  }

  /// The job's state; nil when the cluster has no job of that id (the cluster was replaced).
  public func job(_ submissionID: String) throws(RayError) -> RayJobInfo? {
    let response = try call("GET", "/api/jobs/\(submissionID)")
    if response.status == 404 { return nil }
    guard (200..<300).contains(response.status),
      let object = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any],
      let raw = object["status"] as? String, let status = RayJobInfo.Status(rawValue: raw)
    else {
      throw RayError(
        "the Ray dashboard at \(address) answered job \(submissionID) with \(response.status)", transient: true)
    }
    return RayJobInfo(
      status: status, message: object["message"] as? String ?? "",
      exitCode: (object["driver_exit_code"] as? NSNumber).map { Int32(truncatingIfNeeded: $0.intValue) },
      nodeID: object["driver_node_id"] as? String)
  }

  /// Everything the job printed so far.
  public func jobLogs(_ submissionID: String) throws(RayError) -> String {
    let object = try json("GET", "/api/jobs/\(submissionID)/logs")
    return object["logs"] as? String ?? ""
  }

  /// Asks the job to stop (Ray sends SIGTERM, then SIGKILL); a finished job is left as it is.
  public func stopJob(_ submissionID: String) throws(RayError) {
    let response = try call("POST", "/api/jobs/\(submissionID)/stop")
    guard (200..<300).contains(response.status) || response.status == 404 else {
      throw RayError("Ray did not stop job \(submissionID) (\(response.status))", transient: true)
    }
  }

  /// Why the cluster could never run `cpus`/`gpus`/`memory` on one node, or nil when a live node
  /// has them all (what is free now does not matter: the job waits for it).
  public func unsatisfiable(cpus: Double?, gpus: Double?, memory: Int64?) throws(RayError) -> String? {
    let nodes = try nodeResources()
    let asked = [("CPU", cpus), ("GPU", gpus), ("memory", memory.map(Double.init))].compactMap { name, value in
      value.flatMap { $0 > 0 ? (name, $0) : nil }
    }
    guard !asked.isEmpty else { return nil }
    if nodes.contains(where: { node in asked.allSatisfy { (node[$0.0] ?? 0) >= $0.1 } }) { return nil }
    let largest = asked.map { name, value in
      let most = nodes.map { $0[name] ?? 0 }.max() ?? 0
      let shown = name == "memory" ? "\(Int64(most) >> 20) MiB" : "\(most.formatted())"
      return "\(name) \(name == "memory" ? "\(Int64(value) >> 20) MiB" : value.formatted()) (largest node: \(shown))"
    }
    return "no node of the Ray cluster at \(address) has \(largest.joined(separator: ", ")): the job could never start"
  }
}

extension Double {
  fileprivate func formatted() -> String { self == rounded() ? String(Int(self)) : String(self) }
}
