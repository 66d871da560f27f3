import ArgumentParser
import CProcessControl
import Foundation
import Logging
import Server

/// `agent router --socket PATH`: the stable endpoints' reverse proxies, in a process of their own
/// that outlives the agent. Started by `agent run` and `agent apply` (not by hand); it serves the
/// routing table the agent sends over the socket, and the last one while no agent runs.
struct RouterCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "router",
    abstract: "Serve the deployments' stable endpoints (started by the agent, detached; not run by hand).",
    shouldDisplay: false)

  @Option(help: "The control socket the agent sends routing tables to.") var socket: String

  func run() throws {
    let logger = Logger(label: "modelops.router")
    let router = ProxyRouter(logger: logger)
    // Every 10 s: memory a burst of traffic needed goes back to the system once the burst is
    // over; and a router whose control socket is gone (its state folder was removed) has no
    // agent left to serve, and exits.
    let socket = socket
    Thread {
      while true {
        Thread.sleep(forTimeInterval: 10)
        _ = modelops_release_free_memory()
        if !FileManager.default.fileExists(atPath: socket) {
          logger.warning(
            "the control socket is gone (was the state folder removed?): stopping", metadata: ["socket": "\(socket)"])
          Foundation.exit(0)
        }
      }
    }.start()
    try RouterControlServer(router: router, path: socket, logger: logger).serve()
  }
}
