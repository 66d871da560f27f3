import Drivers
import Foundation
import ModelOpsTesting
import Testing

/// Training steps as containers of the pipeline's image (the docker runtime), against podman's
/// Docker-compatible service: the run contract with container paths, output in the run log,
/// timeouts and retries, a missing image.
@Suite struct ContainerStepTests {
  func harness(_ steps: String, retries: Int = 0, image: String? = nil) throws -> (Harness, PodmanService) {
    let service = try PodmanService.shared()
    let manifests = stack(steps: steps, gate: 0, retries: retries).replacingOccurrences(
      of: "  workdir: training\n", with: "  workdir: training\n  image: \(image ?? service.pythonImage)\n")
    let docker = DockerRuntime(engine: service.engine, owner: "reconciler-tests-\(UUID().uuidString.prefix(6))")
    let h = try Harness(baseFiles.merging(["manifests/all.yaml": manifests]) { $1 }, docker: docker)
    return (h, service)
  }

  func leftovers(_ h: Harness, _ service: PodmanService) throws -> [ContainerSummary] {
    let run = try #require(try h.store.runs().last)
    return try service.engine.list(labels: [DockerRuntime.Label.run: run.id])
  }

  @Test func aStepRunsInTheImageWithTheRunContractAtContainerPaths() throws {
    let script = """
      import json, os
      out = os.environ['MODELOPS_OUTPUT_DIR']
      os.makedirs(out + '/model')
      json.dump(dict(os.environ), open(out + '/model/env.json', 'w'))
      open(out + '/model/pwd.txt', 'w').write(os.getcwd())
      open(out + '/model/params.json', 'w').write(open(os.environ['MODELOPS_PARAMS']).read())
      print('trained in a container', flush=True)
      """
    let steps = "    - name: train\n      command: [python3, -c, \(jsonString(script))]\n"
    let (h, service) = try harness(steps)
    let report = try h.apply()
    #expect(!report.failed, "\(report.executed.map(\.error))")
    let run = try #require(try h.store.runs().first)
    let model = "\(h.state)/runs/\(run.id)/output/model"
    let env = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: model + "/env.json")))
        as? [String: String])
    #expect(env["MODELOPS_OUTPUT_DIR"] == "/modelops/output")
    #expect(env["MODELOPS_PARAMS"] == "/modelops/params.json")
    #expect(env["MODELOPS_INPUT_LABELS"] == "/modelops/workspace/data/labels.csv")
    #expect(env["MODELOPS_RUN_ID"] == run.id)
    #expect(env["MODELOPS_PARAM_MAX_ITER"] == "200")
    #expect(try String(contentsOfFile: model + "/pwd.txt", encoding: .utf8) == "/modelops/workspace/training")
    #expect(try String(contentsOfFile: model + "/params.json", encoding: .utf8) == #"{"max-iter":"200"}"#)
    #expect(try h.log(of: report).contains("trained in a container\n"))
    #expect(try h.store.versions(model: "clf").map(\.version) == [1])
    #expect(try leftovers(h, service).isEmpty, "each step's container is removed")
  }

  @Test func aStepPastItsTimeoutIsStoppedAndRetried() throws {
    let steps = """
          - name: hang
            command: [python3, -c, "print('waiting', flush=True); import time; time.sleep(60)"]
            timeout: 1s

      """
    let (h, service) = try harness(steps, retries: 1)
    let started = Date()
    let report = try h.apply()
    #expect(report.executed.first?.error?.contains("step 'hang' failed: timed out") == true)
    #expect(Date().timeIntervalSince(started) < 30, "stopped at the timeout, not after the sleep")
    let log = try h.log(of: report)
    #expect(log.contains("==> step hang (attempt 2 of 2)"))
    #expect(log.components(separatedBy: "waiting\n").count - 1 == 2, "\(log)")
    #expect(try leftovers(h, service).isEmpty)
    #expect(try h.store.versions().isEmpty)
  }

  @Test func aMissingImageFailsTheRunClearly() throws {
    let (h, _) = try harness(goodStep, image: "localhost/no-such-trainer:1")
    let report = try h.apply()
    #expect(
      report.executed.first?.error?.contains("image localhost/no-such-trainer:1 is not on the docker engine") == true)
    #expect(try h.store.versions().isEmpty)
  }
}

/// `text` as a double-quoted YAML (and JSON) string.
private func jsonString(_ text: String) -> String {
  String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
}
