import Drivers
import Foundation
import Testing

/// `source.verify` on the built binary, with real keys and the real tools (OpenSSH, GnuPG): only
/// a head signed by an allowed key is applied; an unsigned one, or one signed by another key, is
/// treated like an invalid commit (the last verified commit keeps serving, `status` says why);
/// the signer is recorded in history and lineage; a missing signers file stops the agent at start.
@Suite struct CommitVerificationTests {
  /// An SSH key pair in `folder` (`NAME` and `NAME.pub`); its allowed_signers line.
  static func sshKey(_ name: String, in folder: URL) throws -> String {
    let key = folder.appendingPathComponent(name).path
    _ = try run(URL(fileURLWithPath: "/usr/bin/ssh-keygen"), ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key])
    return "\(name)@example.com " + (try String(contentsOfFile: key + ".pub", encoding: .utf8))
  }

  /// Commits everything, signed with the SSH key `key` (a path), or unsigned when nil.
  static func commit(_ repo: ExampleRepository, _ message: String, sshKey key: String?) throws {
    try repo.git("add", "-A")
    if let key {
      try repo.git("-c", "gpg.format=ssh", "-c", "user.signingkey=\(key).pub", "commit", "-q", "-S", "-m", message)
    } else {
      try repo.git("-c", "commit.gpgsign=false", "commit", "-q", "-m", message)
    }
  }

  @Test func onlyAHeadSignedByAnAllowedSSHKeyIsApplied() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let keys = repo.scratch.url.appendingPathComponent("keys")
    try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
    let alice = keys.appendingPathComponent("alice").path
    try repo.scratch.write("keys/allowed_signers", try Self.sshKey("alice", in: keys))
    _ = try Self.sshKey("mallory", in: keys)
    try repo.scratch.write(".gitignore", ".state/\nkeys/\nagent.yaml\n")
    // Every commit of this repository is signed by alice unless said otherwise.
    try repo.git("config", "gpg.format", "ssh")
    try repo.git("config", "user.signingkey", alice + ".pub")
    try repo.git("config", "commit.gpgsign", "true")
    let listen = try repo.listenOnFreePort()
    var (config, api) = try repo.localAgentConfig()
    try repo.edit("agent.yaml") {
      $0.replacingOccurrences(
        of: "interval: 1s}", with: "interval: 1s, verify: {allowedSigners: \(keys.path)/allowed_signers}}")
    }
    let server = "http://127.0.0.1:\(api)"
    let agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    let status = { (try? run(agentBinary(), ["status", "--wide", "--server", server]).stdout) ?? "" }
    #expect(agent.waitUntil(120) { ServingTests.predict(listen) == 1 }, "\(log())")
    #expect(status().contains("signed by alice@example.com (ED25519 key SHA256:"), "\(status())")

    // Unsigned: not applied, v1 keeps serving, status and /metrics say why.
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "7""#, with: #"seed: "8""#)
    }
    try Self.commit(repo, "unsigned", sshKey: nil)
    #expect(
      agent.waitUntil(30) { status().contains("is not signed; source.verify applies only signed commits") },
      "\(status())")
    #expect(agent.metric("modelops_head_invalid") == 1)
    // Signed by a key that is not allowed: not applied either.
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "8""#, with: #"seed: "9""#)
    }
    try Self.commit(repo, "mallory's", sshKey: keys.appendingPathComponent("mallory").path)
    #expect(agent.waitUntil(30) { status().contains("is signed by an SSH key that is not in") }, "\(status())")
    #expect(ServingTests.sample(listen, 5).allSatisfy { $0 == 1 })
    let models = try run(agentBinary(), ["models", "iris-classifier", "--server", server, "--format", "json"]).stdout
    #expect(!models.contains("\"version\" : 2"), "nothing of an unverified commit is trained: \(models)")

    // Signed by alice: applied; the signer is in the history and the new version's lineage.
    try repo.edit("manifests/pipelines/iris-train.yaml") {
      $0.replacingOccurrences(of: #"seed: "9""#, with: #"seed: "10""#)
    }
    try Self.commit(repo, "alice's", sshKey: alice)
    #expect(agent.waitUntil(120) { ServingTests.sample(listen, 5).allSatisfy { $0 == 2 } }, "\(log())\n\(status())")
    let lineage = try run(agentBinary(), ["models", "iris-classifier", "--version", "2", "--server", server]).stdout
    #expect(lineage.contains("signer: alice@example.com (ED25519 key SHA256:"), "\(lineage)")
    let history = try run(agentBinary(), ["history", "--server", server]).stdout
    #expect(history.contains("verified") && history.contains("signed by alice@example.com"), "\(history)")
    #expect(history.contains("apply-failed"), "\(history)")
    #expect(agent.terminate(within: 20) == 0, "\(log())")

    // A signers file that is not there is a configuration error at start.
    try repo.edit("agent.yaml") { $0.replacingOccurrences(of: "allowed_signers", with: "missing_signers") }
    api = try FreePort.pick()
    config = repo.path + "/agent.yaml"
    let refused = try run(agentBinary(), ["run", "--config", config], timeout: 30)
    #expect(refused.status == 1 && refused.stderr.contains("source.verify.allowedSigners: cannot read"), "\(refused)")
  }

  @Test func aGPGSignatureIsCheckedAgainstTheKeyringAndApplyRefusesAnUnsignedHead() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let home = repo.scratch.url.appendingPathComponent("gnupg")
    try FileManager.default.createDirectory(
      at: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let gpg = URL(fileURLWithPath: "/usr/bin/gpg")
    let env = ["GNUPGHOME": home.path]
    let made = try run(
      gpg, ["--batch", "--passphrase", "", "--quick-gen-key", "Bob <bob@example.com>", "ed25519", "sign", "never"],
      environment: env)
    #expect(made.status == 0, "\(made.stderr)")
    let keyring = repo.scratch.url.appendingPathComponent("keyring.gpg")
    _ = try run(gpg, ["--batch", "--yes", "--output", keyring.path, "--export", "bob@example.com"], environment: env)
    try repo.scratch.write(".gitignore", ".state/\ngnupg/\nkeyring.gpg\nagent.yaml\n")
    let (config, _) = try repo.localAgentConfig()
    try repo.edit("agent.yaml") {
      $0.replacingOccurrences(of: "interval: 1s}", with: "interval: 1s, verify: {gpgKeyring: \(keyring.path)}}")
    }
    try Self.commit(repo, "unsigned", sshKey: nil)
    let unsigned = try run(agentBinary(), ["apply", "--config", config], timeout: 120)
    #expect(unsigned.status == 1 && unsigned.stderr.contains("is not signed"), "\(unsigned)")
    #expect(!FileManager.default.fileExists(atPath: repo.state + "/runs"), "nothing was trained")

    try repo.git("add", "-A")
    let signed = try gitCommand(
      [
        "-c", "gpg.program=/usr/bin/gpg", "-c", "user.signingkey=bob@example.com", "commit", "-q", "--allow-empty",
        "-S",
        "-m", "bob's",
      ], in: repo.scratch.url, environment: env)
    #expect(signed.status == 0)
    let applied = try run(agentBinary(), ["apply", "--config", config, "--max-pause", "0"], timeout: 180)
    #expect(applied.status == 0, "\(applied.stderr)")
    let models = try run(agentBinary(), ["models", "iris-classifier", "--version", "1", "--config", config]).stdout
    #expect(models.contains("signer: Bob <bob@example.com> (GPG key "), "\(models)")
    ExampleRepository.killProcesses(under: repo.state)
  }
}
