import Drivers
import Foundation
import Testing

/// `signing`: the agent signs each version it registers (an SSH key of the test's own), a replica
/// starts only for a version whose signature verifies, and `agent models --verify` checks every
/// version; on the built binary, with real `ssh-keygen`.
@Suite struct SignedVersionTests {
  /// A fresh ed25519 key pair in `folder`: the private key's path.
  static func key(_ name: String, in folder: URL) throws -> String {
    let path = folder.appendingPathComponent(name).path
    let made = try run(
      URL(fileURLWithPath: "/usr/bin/ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path])
    try #require(made.status == 0, "\(made.stderr)")
    return path
  }

  /// Runs SQL on the agent's state database (what someone with write access to it could do).
  static func sql(_ state: String, _ statement: String, _ values: [String]) throws {
    let script =
      "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2], sys.argv[3:]); c.commit()"
    let done = try run(
      URL(fileURLWithPath: "/usr/bin/python3"), ["-c", script, state + "/state.db", statement] + values)
    try #require(done.status == 0, "\(done.stderr)")
  }

  @Test func versionsAreSignedAndOnlyAVersionWhoseSignatureVerifiesServes() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort()
    let keys = repo.scratch.url.appendingPathComponent("keys")
    try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
    let key = try Self.key("agent-key", in: keys)
    let (config, _) = try repo.localAgentConfig()
    let signing = "signing: {key: {file: \(key)}, requireSigned: true}\n"
    try (try String(contentsOfFile: config, encoding: .utf8) + "\n" + signing).write(
      toFile: config, atomically: true, encoding: .utf8)

    let applied = try run(agentBinary(), ["apply", "--config", config], timeout: 300)
    #expect(applied.status == 0, "\(applied.stderr)")
    #expect(ServingTests.predict(listen) == 1)
    let whole = try run(agentBinary(), ["models", "iris-classifier", "--version", "1", "--config", config]).stdout
    #expect(whole.contains("signature: SSH"), "\(whole)")
    let verified = try run(agentBinary(), ["models", "--verify", "--config", config])
    #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
    #expect(verified.stdout.contains("iris-classifier v1  ok  artifact matches sha256:"), "\(verified.stdout)")
    #expect(verified.stdout.contains("signed by modelops-agent (ED25519 key SHA256:"), "\(verified.stdout)")

    // The artifact changed in place: its digest no longer matches, and a replica that dies is not
    // replaced by one serving it.
    let digest = try #require(
      try run(agentBinary(), ["models", "iris-classifier", "--version", "1", "--format", "json", "--config", config])
        .stdout.firstMatch(of: #/sha256:([0-9a-f]{64})/#).map { String($0.1) })
    let artifacts = URL(fileURLWithPath: repo.state).appendingPathComponent("registry/artifacts")
    let planted = artifacts.appendingPathComponent(digest).appendingPathComponent("planted.json")
    try "{}\n".write(to: planted, atomically: true, encoding: .utf8)
    let changed = try run(agentBinary(), ["models", "--verify", "--config", config])
    #expect(changed.status == 1 && changed.stdout.contains("the artifact no longer matches its digest"), "\(changed)")
    let replicas = ExampleRepository.processes(under: repo.state)
    #expect(!replicas.isEmpty)
    for pid in replicas { kill(-pid, SIGKILL) }
    let inPlace = try run(agentBinary(), ["apply", "--config", config], timeout: 120)
    #expect(inPlace.status != 0, "\(inPlace.stdout)")
    #expect(
      inPlace.stderr.contains(
        "the artifact of iris-classifier v1 no longer matches its signed digest: it is not served"),
      "\(inPlace.stderr)")
    #expect(ExampleRepository.processes(under: repo.state).isEmpty, "no replica started")
    try FileManager.default.removeItem(at: planted)

    // Someone with write access to the state replaces the artifact and its recorded digest
    // together: the digests agree, the signature does not.
    let forged = repo.scratch.url.appendingPathComponent("forged")
    try FileManager.default.copyItem(at: artifacts.appendingPathComponent(digest), to: forged)
    try "{\"forged\": true}\n".write(
      to: forged.appendingPathComponent("forged.json"), atomically: true, encoding: .utf8)
    let forgedDigest = try ArtifactDigest.of(folder: forged)
    try FileManager.default.moveItem(at: forged, to: artifacts.appendingPathComponent(forgedDigest))
    try Self.sql(
      repo.state, "UPDATE model_version SET artifact_digest = ? WHERE version = 1", ["sha256:" + forgedDigest])
    let refused = try run(agentBinary(), ["models", "--verify", "--config", config])
    #expect(refused.status == 1, "\(refused.stdout)")
    #expect(
      refused.stdout.contains(
        "iris-classifier v1  FAILED  v1 of iris-classifier has an SSH signature that does not verify"),
      "\(refused.stdout)")

    // No replica starts for the forged artifact either (once a person asked to try again): the
    // heal is stalled, with the reason in `agent status`.
    let retried = try run(agentBinary(), ["retry", "iris-api", "--config", config])
    #expect(retried.status == 0, "\(retried.stderr)")
    let healed = try run(agentBinary(), ["apply", "--config", config], timeout: 120)
    #expect(healed.status != 0, "\(healed.stdout)")
    #expect(
      healed.stderr.contains(
        "v1 of iris-classifier has an SSH signature that does not verify: Signature verification failed: "
          + "incorrect signature: it is not served"), "\(healed.stderr)")
    #expect(ExampleRepository.processes(under: repo.state).isEmpty, "no replica started")
    let status = try run(agentBinary(), ["status", "--wide", "--config", config]).stdout
    #expect(status.contains("does not verify"), "\(status)")

    // Unsigned (as a version registered before `signing` was set) under requireSigned, and
    // signed by a key the agent does not accept: both refused, each with its reason.
    try Self.sql(
      repo.state, "UPDATE model_version SET artifact_digest = ?, signature = NULL WHERE version = 1",
      ["sha256:" + digest])
    let unsigned = try run(agentBinary(), ["models", "--verify", "--config", config])
    #expect(unsigned.status == 1 && unsigned.stdout.contains("is not signed, and signing.requireSigned is set"))
    let stranger = try Self.key("stranger", in: keys)
    let runID = try #require(
      try run(agentBinary(), ["models", "iris-classifier", "--version", "1", "--config", config]).stdout
        .firstMatch(of: #/run: (\S+)/#).map { String($0.1) })
    let message = VersionSigner.message(model: "iris-classifier", run: runID, digest: "sha256:" + digest)
    let foreign = try SSHSignatures.sign(message, key: stranger, namespace: VersionSigner.namespace)
    try Self.sql(repo.state, "UPDATE model_version SET signature = ? WHERE version = 1", [foreign])
    let other = try run(agentBinary(), ["models", "--verify", "--config", config])
    #expect(other.status == 1 && other.stdout.contains("is signed by an SSH key that is not in"), "\(other.stdout)")

    // A missing key file is a configuration error before anything runs.
    try (try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: key, with: key + ".gone"))
      .write(toFile: config, atomically: true, encoding: .utf8)
    let missing = try run(agentBinary(), ["apply", "--config", config])
    #expect(missing.status == 1 && missing.stderr.contains("signing.key: cannot read"), "\(missing.stderr)")
  }
}
