import Drivers
import Foundation
import Synchronization
import Testing

/// Requests sent back to back to an endpoint on a thread of their own, counted by outcome.
final class SteadyTraffic: Sendable {
  private let counts = Mutex((ok: 0, failed: 0, lastFailure: ""))
  private let running = Atomic<Bool>(true)
  private let done = Atomic<Bool>(false)

  init(port: Int) {
    Thread.detachNewThread { [self] in
      while running.load(ordering: .relaxed) {
        let outcome = Result { try HTTPClient.get("http://127.0.0.1:\(port)/healthz", timeout: 2) }
        counts.withLock { counts in
          switch outcome {
          case .success(let response) where response.status == 200: counts.ok += 1
          case .success(let response):
            counts.failed += 1
            counts.lastFailure = "HTTP \(response.status)"
          case .failure(let error):
            counts.failed += 1
            counts.lastFailure = "\(error)"
          }
        }
      }
      done.store(true, ordering: .relaxed)
    }
  }

  /// Stops sending; the answered and failed requests.
  func stop() -> (ok: Int, failed: Int, lastFailure: String) {
    running.store(false, ordering: .relaxed)
    while !done.load(ordering: .relaxed) { usleep(10_000) }
    return counts.withLock { $0 }
  }
}

/// The data plane outlives the control plane: the stable endpoints are served by a router
/// process of their own, which no agent stop, kill or restart interrupts.
@Suite struct DataPlaneTests {
  @Test func trafficThroughAKillAndARestartOfTheAgentHasNoFailedRequest() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort()
    let (config, api) = try repo.localAgentConfig()
    var agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run1.log"))
    let log = { (try? String(contentsOf: agent.log, encoding: .utf8)) ?? "" }
    #expect(agent.waitUntil(120) { agent.healthyReplicas("iris-api", version: 1) == 2 }, "\(log())")
    #expect(agent.waitUntil(10) { ServingTests.predict(listen) == 1 }, "\(log())")
    let router = try #require(ExampleRepository.router(of: repo.state))

    let traffic = SteadyTraffic(port: listen)
    sleep(1)
    kill(agent.process.processIdentifier, SIGKILL)
    agent.process.waitUntilExit()
    sleep(3)  // nobody reconciles: the router serves the last table it got
    agent = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run2.log"))
    #expect(agent.waitUntil(60) { agent.metric("modelops_ready") == 1 }, "\(log())")
    sleep(2)
    let counts = traffic.stop()
    #expect(counts.failed == 0, "\(counts.failed) of \(counts.ok + counts.failed) failed, last: \(counts.lastFailure)")
    #expect(counts.ok > 100)
    #expect(ExampleRepository.router(of: repo.state) == router, "the restarted agent adopted the router")
    #expect(agent.terminate(within: 20) == 0, "\(log())")
    #expect(ServingTests.predict(listen) == 1, "the endpoint outlives the agent")
  }

  @Test func applyLeavesTheEndpointServedAndALaterRunAdoptsTheRouter() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort()
    let applied = try agent("apply", "--repo", repo.path, "--path", "manifests", "--state", repo.state)
    #expect(applied.status == 0, "\(applied.stderr)")
    #expect(ServingTests.predict(listen) == 1, "apply exited, the endpoint answers")
    let router = try #require(ExampleRepository.router(of: repo.state))

    let (config, api) = try repo.localAgentConfig()
    let running = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: running.log, encoding: .utf8)) ?? "" }
    #expect(running.waitUntil(60) { running.metric("modelops_ready") == 1 }, "\(log())")
    #expect(ServingTests.sample(listen, 20).allSatisfy { $0 == 1 })
    #expect(ExampleRepository.router(of: repo.state) == router, "adopted, not started again")
    #expect(!log().contains("router started"), "\(log())")
    // A router process that dies is started again by the running agent with the last table.
    kill(router, SIGKILL)
    #expect(
      running.waitUntil(15) { ExampleRepository.router(of: repo.state).map { $0 != router } ?? false }, "\(log())")
    #expect(running.waitUntil(10) { ServingTests.predict(listen) == 1 }, "\(log())")
    #expect(running.terminate(within: 20) == 0, "\(log())")
  }

  @Test func anEndpointWhosePortIsTakenIsSaidInTheLog() throws {
    let repo = try ExampleRepository(example: "quickstart")
    let listen = try repo.listenOnFreePort()
    // Something else holds the deployment's port.
    let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(holder) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(listen).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    try #require(bound == 0 && Glibc.listen(holder, 1) == 0)
    let (config, api) = try repo.localAgentConfig()
    let running = try RunningAgent(config: config, port: api, log: repo.scratch.url.appendingPathComponent("run.log"))
    let log = { (try? String(contentsOf: running.log, encoding: .utf8)) ?? "" }
    #expect(
      running.waitUntil(120) {
        log().contains("a deployment's endpoint is not served") && log().contains("127.0.0.1:\(listen)")
      }, "\(log())")
    #expect(running.terminate(within: 20) == 0, "\(log())")
  }

  /// A router whose control socket is gone (its state folder was removed) has no agent left to
  /// serve: it exits by itself within its 10-s check.
  @Test func aRouterWhoseStateFolderIsRemovedStops() throws {
    let scratch = try Scratch()
    let socket = scratch.url.appendingPathComponent("control.sock").path
    let router = Process()
    router.executableURL = try agentBinary()
    router.arguments = ["router", "--socket", socket]
    router.standardError = FileHandle.nullDevice
    try router.run()
    defer { if router.isRunning { kill(router.processIdentifier, SIGKILL) } }
    let deadline = Date().addingTimeInterval(10)
    while !FileManager.default.fileExists(atPath: socket), Date() < deadline { usleep(50_000) }
    #expect(FileManager.default.fileExists(atPath: socket))
    try FileManager.default.removeItem(atPath: socket)
    let gone = Date().addingTimeInterval(25)
    while router.isRunning, Date() < gone { usleep(100_000) }
    #expect(!router.isRunning, "the router still runs without its socket")
  }
}
