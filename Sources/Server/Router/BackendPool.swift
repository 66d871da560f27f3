import ModelOpsCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// Connections to replicas, kept alive between requests and shared by every client connection of
/// one event loop: a request takes an idle connection to the replica it was routed to, or opens
/// one, and gives it back when the exchange ended cleanly. Used only on its event loop (asserted),
/// which is why it may be held by the router across threads.
///
/// Idle connections cost the replica something (a thread each, in a thread-per-connection server),
/// so few are kept: at most 16 per replica and event loop, none idle for more than about 4 s
/// (below common servers' own keep-alive timeouts, e.g. uvicorn's 5 s, so that the router closes
/// an idle connection before the replica does, rather than reuse one the replica is closing).
final class BackendPool: @unchecked Sendable {
  let eventLoop: any EventLoop
  /// Idle connections kept per replica (more are closed when given back).
  static let maxIdlePerReplica = 16
  /// How long a connection may stay idle before it is closed (checked every second).
  static let idleTimeout = TimeAmount.seconds(3)
  /// Mirrored requests in flight at most (more are dropped, not queued).
  static let maxMirrors = 256
  private var idle: [ListenAddress: [BackendHandler]] = [:]
  /// Mirrored requests in flight now.
  var mirrors = 0
  private var sweeper: RepeatedTask?

  init(eventLoop: any EventLoop) {
    self.eventLoop = eventLoop
  }

  /// An open connection to the replica at `address`, now (an idle one) or once connected; nil
  /// when the replica refused or did not answer within 2 s. `done` runs on the event loop.
  func lease(_ address: ListenAddress, _ done: @escaping (BackendHandler?) -> Void) {
    eventLoop.assertInEventLoop()
    while let handler = idle[address]?.popLast() {
      if handler.isActive { return done(handler) }
    }
    ClientBootstrap(group: eventLoop)
      .channelOption(.socketOption(.tcp_nodelay), value: 1)
      .connectTimeout(.seconds(2))
      .channelInitializer { [self] channel in
        channel.eventLoop.makeCompletedFuture {
          // Replicas' answers are parsed by the decoder; the router's own headers are constant.
          try channel.pipeline.syncOperations.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
          try channel.pipeline.syncOperations.addHandler(BackendHandler(address: address, pool: self))
        }
      }
      .connect(host: address.host, port: address.port)
      .assumeIsolated()
      .whenComplete { result in
        guard case .success(let channel) = result,
          let handler = try? channel.pipeline.syncOperations.handler(type: BackendHandler.self)
        else { return done(nil) }
        done(handler)
      }
  }

  /// Takes back a connection whose exchange ended cleanly; one too many is closed.
  func giveBack(_ handler: BackendHandler) {
    eventLoop.assertInEventLoop()
    guard handler.isActive, (idle[handler.address]?.count ?? 0) < Self.maxIdlePerReplica else {
      handler.close()
      return
    }
    handler.idleSince = .now()
    idle[handler.address, default: []].append(handler)
    if sweeper == nil {
      sweeper = eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [self] _ in
        sweep()
      }
    }
  }

  /// Closes the connections idle for longer than `idleTimeout`.
  private func sweep() {
    let oldest = NIODeadline.now() - Self.idleTimeout
    for (address, handlers) in idle {
      let (stale, fresh) = (handlers.filter { $0.idleSince < oldest }, handlers.filter { $0.idleSince >= oldest })
      for handler in stale { handler.close() }
      idle[address] = fresh.isEmpty ? nil : fresh
    }
  }

  /// An idle connection the replica closed.
  func forget(_ handler: BackendHandler) {
    idle[handler.address]?.removeAll { $0 === handler }
  }

  /// Closes every idle connection (the router is shutting down).
  func closeAll() {
    sweeper?.cancel()
    sweeper = nil
    for handlers in idle.values { for handler in handlers { handler.close() } }
    idle.removeAll()
  }
}
