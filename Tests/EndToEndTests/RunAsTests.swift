import Foundation
import Testing

/// `runAs`: training steps run as another user than the agent, and cannot read its environment
/// (where a secret given as `{env: …}` lives), on the built binary.
@Suite struct RunAsTests {
  /// A repository whose one step looks for `secret` in every process's environment, and says
  /// whether it can read the agent's (its parent's).
  static func lookingFor(_ secret: String) throws -> Scratch {
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
                echo "environments holding the secret: $(grep -l '\(secret)' /proc/[0-9]*/environ 2>/dev/null | wc -l)"
                echo "agent environment readable: $(cat /proc/$PPID/environ >/dev/null 2>&1 && echo yes || echo no)"

      """)
    try gitCommand(["init", "-q", "-b", "main"], in: scratch.url)
    try commitAll("a step that looks for the agent's secret", in: scratch.url)
    return scratch
  }

  @Test func aStepRunningAsAnotherUserFindsNoSecretOfTheAgent() throws {
    let scratch = try Self.lookingFor("leak-me-not")
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

  /// Without `runAs` (a step of the agent's own user, here root): the secrets the configuration
  /// names in the environment were taken out of it when the agent started, so a step reading the
  /// agent's environment finds none of them.
  @Test func aSecretGivenInTheEnvironmentIsGoneFromTheAgentsEnvironment() throws {
    let scratch = try Self.lookingFor("keep-me-in")
    let state = scratch.url.appendingPathComponent(".state").path
    try scratch.write(
      "agent.yaml",
      """
      source: {url: \(scratch.url.path), branch: main, path: manifests}
      state: \(state)
      api: {token: {env: SOME_TOKEN}}
      webhooks: {git: {secret: {env: HOOK_SECRET}}}

      """)
    let applied = try run(
      agentBinary(), ["apply", "--config", scratch.url.path + "/agent.yaml"],
      environment: ["SOME_TOKEN": "keep-me-in-0123", "HOOK_SECRET": "keep-me-in-4567"], timeout: 120)
    #expect(applied.status == 0, "\(applied.stderr)")
    let runs = try FileManager.default.contentsOfDirectory(atPath: state + "/runs")
    let log = try String(contentsOfFile: state + "/runs/\(runs.first ?? "")/run.log", encoding: .utf8)
    #expect(log.contains("agent environment readable: yes"), "root reads it, and finds no secret there: \(log)")
    #expect(log.contains("environments holding the secret: 0"), "\(log)")
  }
}
