import Drivers
import Foundation
import ModelOpsCore
import ModelOpsTesting
import Testing

/// Everything that starts a real Ray cluster runs in this one suite, one test at a time (two
/// clusters on one 2-core machine would starve each other); see `RayCluster`.
@Suite(.serialized) struct RayTests {
  /// The quickstart with its pipeline as Ray jobs (each asking for a CPU, which only the worker
  /// has) and a third step that prints the digest of the model file it sees: the output written
  /// by the second job, fetched back from the agent by the third.
  static func rayRepository(cluster: RayCluster, extraSteps: String = "", timeout: String = "15m") throws -> (
    ExampleRepository, String, Int
  ) {
    let repo = try ExampleRepository(example: "quickstart")
    try repo.git("rm", "-q", "-r", "manifests/deploy", "manifests/monitors")
    try repo.edit("manifests/pipelines/iris-train.yaml") { text in
      text.replacingOccurrences(
        of: "  workdir: training\n", with: "  workdir: training\n  runtime: ray\n  resources: {cpus: 1}\n"
      )
      .replacingOccurrences(
        of: "      timeout: 5m\n",
        with: """
                timeout: 5m
              - name: digest
                command:
                  - python3
                  - -c
                  - "import hashlib, os; p = os.path.join(os.environ['MODELOPS_OUTPUT_DIR'], 'model', 'weights.json'); print('job-digest', hashlib.sha256(open(p, 'rb').read()).hexdigest())"
          \(extraSteps)
          """
      )
      .replacingOccurrences(of: "  timeout: 15m\n", with: "  timeout: \(timeout)\n")
    }
    try repo.commit("train on Ray")
    let (config, port) = try repo.localAgentConfig()
    try repo.scratch.write(
      "agent.yaml", try String(contentsOfFile: config, encoding: .utf8) + "\nray: {address: \(cluster.address)}\n")
    return (repo, config, port)
  }

  /// One cluster for every training case (a cluster takes 15–40 s to start on 2 cores).
  @Test func rayJobsTrainOnTheWorkerAreStoppedRefusedAndAdoptedAfterARestart() throws {
    let cluster = try RayCluster()
    let (repo, config, port) = try Self.rayRepository(cluster: cluster)
    try aPipelineTrainsAsRayJobsOnTheWorkerAndTheVersionIsWhatTheJobWrote(cluster, repo, config)
    try resourcesNoNodeHasAreRefusedAndAStepPastItsTimeoutIsStopped(cluster, repo, config)
    try aRestartedAgentAdoptsTheRunningJobInsteadOfSubmittingItAgain(repo, config, port)
  }

  func aPipelineTrainsAsRayJobsOnTheWorkerAndTheVersionIsWhatTheJobWrote(
    _ cluster: RayCluster, _ repo: ExampleRepository, _ config: String
  ) throws {
    let apply = try run(agentBinary(), ["apply", "--config", config], timeout: 300)
    #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")

    let versions = try run(agentBinary(), ["models", "iris-classifier", "--format", "json", "--state", repo.state])
    let list = try #require(
      try JSONSerialization.jsonObject(with: Data(versions.stdout.utf8)) as? [[String: Any]], "\(versions.stdout)")
    let version = try #require(list.first)
    let lineage = try #require(version["lineage"] as? [String: String], "\(version)")
    let job = try #require(lineage["rayJob"], "\(lineage)")
    let runID = try #require(lineage["run"])
    #expect(job == "modelops-\(runID)-2-1")

    // Every job ran on the worker (the head has no CPU), as Ray itself says.
    let dashboard = RayDashboard(address: cluster.address)
    for step in 0..<3 {
      let info = try dashboard.json("GET", "/api/jobs/modelops-\(runID)-\(step)-1")
      #expect(info["status"] as? String == "SUCCEEDED")
      #expect((info["driver_agent_http_address"] as? String)?.contains(RayCluster.workerIP) == true, "\(info)")
    }
    // The registered artifact is, byte for byte, the file the jobs saw.
    let log = try String(contentsOfFile: "\(repo.state)/runs/\(runID)/run.log", encoding: .utf8)
    let printed = try #require(log.firstMatch(of: #/job-digest ([0-9a-f]{64})/#)?.1, "\(log)")
    let digest = try #require((version["artifactDigest"] as? String)?.replacingOccurrences(of: "sha256:", with: ""))
    let stored = try Data(contentsOf: URL(fileURLWithPath: "\(repo.state)/registry/artifacts/\(digest)/weights.json"))
    var hasher = SHA256()
    hasher.update(stored)
    #expect(hasher.hexDigest() == String(printed))
    // The jobs' output was followed into the run's log.
    #expect(log.contains("wrote 2000 rows"), "\(log)")
    #expect(log.contains("metrics: {\"accuracy\""), "\(log)")
  }

  func resourcesNoNodeHasAreRefusedAndAStepPastItsTimeoutIsStopped(
    _ cluster: RayCluster, _ repo: ExampleRepository, _ config: String
  ) throws {
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: "resources: {cpus: 1}", with: "resources: {cpus: 64}")
    }
    try repo.commit("64 CPUs")
    let refused = try run(agentBinary(), ["apply", "--config", config], timeout: 120)
    #expect(refused.status != 0)
    #expect(
      refused.stdout.contains("no node of the Ray cluster at \(cluster.address) has CPU 64 (largest node: 2)"),
      "\(refused.stdout)\n\(refused.stderr)")

    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: "resources: {cpus: 64}", with: "resources: {cpus: 1}")
        .replacingOccurrences(of: #"["python3", "generate.py"]"#, with: #"["sleep", "120"]"#)
        .replacingOccurrences(of: "  retries: 1\n", with: "  retries: 0\n")
        .replacingOccurrences(of: "  timeout: 15m\n", with: "  timeout: 6s\n")
    }
    try repo.commit("a step that outlives its timeout")
    let stopped = try run(agentBinary(), ["apply", "--config", config], timeout: 120)
    #expect(stopped.status != 0)
    #expect(stopped.stdout.contains("timed out"), "\(stopped.stdout)\n\(stopped.stderr)")
    let jobs = try RayDashboard(address: cluster.address).call("GET", "/api/jobs/")
    let list = (try JSONSerialization.jsonObject(with: jobs.body) as? [[String: Any]]) ?? []
    let stoppedJobs = list.filter { ($0["status"] as? String) == "STOPPED" }
    #expect(stoppedJobs.count == 1, "\(list)")
    // Back to a pipeline that trains, for what follows.
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"["sleep", "120"]"#, with: #"["python3", "generate.py"]"#)
        .replacingOccurrences(of: "  timeout: 6s\n", with: "  timeout: 15m\n")
    }
  }

  func aRestartedAgentAdoptsTheRunningJobInsteadOfSubmittingItAgain(
    _ repo: ExampleRepository, _ config: String, _ port: Int
  ) throws {
    let before = Set((try? FileManager.default.contentsOfDirectory(atPath: "\(repo.state)/runs")) ?? [])
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(
        of: #"["python3", "generate.py"]"#, with: #"["sh", "-c", "sleep 12 && python3 generate.py"]"#)
    }
    try repo.commit("a slow first step")
    let logFile = repo.scratch.url.appendingPathComponent("agent.log")
    var agent: RunningAgent? = try RunningAgent(config: config, port: port, log: logFile)
    let runLog = {
      let runs = Set((try? FileManager.default.contentsOfDirectory(atPath: "\(repo.state)/runs")) ?? [])
        .subtracting(before)
      return runs.compactMap { try? String(contentsOfFile: "\(repo.state)/runs/\($0)/run.log", encoding: .utf8) }
        .joined()
    }
    #expect(agent?.waitUntil(90) { runLog().contains("-0-1 submitted") } == true, "\(runLog())")
    kill(agent?.process.processIdentifier ?? 0, SIGKILL)
    agent?.process.waitUntilExit()
    agent = try RunningAgent(config: config, port: port, log: logFile)
    let models = { (try? run(agentBinary(), ["models", "--wide", "--state", repo.state]).stdout) ?? "" }
    #expect(agent?.waitUntil(180) { squeezed(models()).contains("iris-classifier v2") } == true, "\(runLog())")
    // The first step's job was submitted once, and followed by the second agent to its end.
    #expect(runLog().components(separatedBy: "-0-1 submitted").count == 2, "\(runLog())")
    #expect(runLog().contains("wrote 2000 rows"))
    _ = agent?.terminate(within: 20)
  }

  @Test func anUnreachableClusterIsSaidSo() throws {
    let port = try FreePort.pick()
    let cluster = "http://127.0.0.1:\(port)"
    let repo = try ExampleRepository(example: "quickstart")
    try repo.git("rm", "-q", "-r", "manifests/deploy", "manifests/monitors")
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: "  workdir: training\n", with: "  workdir: training\n  runtime: ray\n")
        .replacingOccurrences(of: "  timeout: 15m\n", with: "  timeout: 4s\n")
    }
    try repo.commit("train on a Ray cluster that is not there")
    let (config, _) = try repo.localAgentConfig()
    try repo.scratch.write(
      "agent.yaml", try String(contentsOfFile: config, encoding: .utf8) + "\nray: {address: \(cluster)}\n")
    let apply = try run(agentBinary(), ["apply", "--config", config], timeout: 120)
    #expect(apply.status != 0)
    #expect(
      apply.stdout.contains("cannot reach the Ray dashboard at \(cluster)"), "\(apply.stdout)\n\(apply.stderr)")
  }
}
