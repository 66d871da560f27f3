import Foundation
import Testing

/// `runAs`: training steps run as another user than the agent, and cannot read its environment
/// (where a secret given as `{env: …}` lives), on the built binary.
@Suite struct RunAsTests {
  @Test func aStepRunningAsAnotherUserFindsNoSecretOfTheAgent() throws {
    let scratch = try Scratch()
    try scratch.write(
      "manifests/all.yaml",
      """
      apiVersion: modelops/v1
      kind: Model
      metadata: {name: m}
      spec: {pipeline: p, aliases: {production: {policy: latest-passing}}}
      ---
      apiVersion: modelops/v1
      kind: Pipeline
      metadata: {name: p}
      spec:
        model: m
        steps:
          - name: look
            command:
              - /bin/sh
              - -c
              - |
                mkdir -p "$MODELOPS_OUTPUT_DIR/model" && echo '{"w": 1}' > "$MODELOPS_OUTPUT_DIR/model/w.json"
                echo '{"accuracy": 0.9}' > "$MODELOPS_OUTPUT_DIR/metrics.json"
                echo "step user: $(id -un)"
                echo "environments holding the secret: $(grep -l 'leak-me-not' /proc/[0-9]*/environ 2>/dev/null | wc -l)"

      """)
    try gitCommand(["init", "-q", "-b", "main"], in: scratch.url)
    try commitAll("a step that looks for the agent's secret", in: scratch.url)
    let state = scratch.url.appendingPathComponent(".state").path
    try scratch.write(
      "agent.yaml",
      "source: {url: \(scratch.url.path), branch: main, path: manifests}\nstate: \(state)\nrunAs: nobody\n")
    let applied = try run(
      agentBinary(), ["apply", "--config", scratch.url.path + "/agent.yaml"],
      environment: ["SOME_TOKEN": "leak-me-not-0123"], timeout: 120)
    #expect(applied.status == 0, "\(applied.stderr)")
    let runs = try FileManager.default.contentsOfDirectory(atPath: state + "/runs")
    let log = try String(contentsOfFile: state + "/runs/\(runs.first ?? "")/run.log", encoding: .utf8)
    #expect(log.contains("step user: nobody"), "\(log)")
    #expect(log.contains("environments holding the secret: 0"), "\(log)")

    // An unknown user is a configuration error, said before anything runs.
    try scratch.write(
      "agent.yaml",
      "source: {url: \(scratch.url.path), branch: main, path: manifests}\nstate: \(state)\nrunAs: nosuchuser\n")
    let refused = try run(agentBinary(), ["apply", "--config", scratch.url.path + "/agent.yaml"])
    #expect(refused.status == 1 && refused.stderr.contains("runAs: no user named 'nosuchuser'"), "\(refused)")
  }
}
