import Dispatch
import NIOCore
import NIOHTTP1
import NIOPosix
import Reconciler

/// One client connection of a deployment's router: reads a request (body up to `maxBody`), sends
/// it to the replica the router picks over a kept-alive connection of this client connection, and
/// streams the response back with `X-Model-Version`. Requests on one connection are handled one
/// at a time (NIO's pipelining handler holds the next until this response ends).
final class ProxyHandler: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  /// Headers that describe one hop, not the message: never forwarded.
  static let hopByHop = [
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "expect",
  ]

  private let router: ProxyRouter
  private let deployment: String
  private let preview: Bool
  private let maxBody: Int
  private var head: HTTPRequestHead?
  /// When the request being handled started (its head was read), for the latency histogram.
  private var started: UInt64 = 0
  private var body: ByteBuffer?
  private var tooLarge = false
  /// Connections to replicas, by port, reused across this client's requests.
  private var backends: [Int: Channel] = [:]

  init(router: ProxyRouter, deployment: String, preview: Bool, maxBody: Int) {
    self.router = router
    self.deployment = deployment
    self.preview = preview
    self.maxBody = maxBody
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let requestHead):
      head = requestHead
      started = DispatchTime.now().uptimeNanoseconds
      body = context.channel.allocator.buffer(capacity: 0)
      tooLarge = false
    case .body(var chunk):
      guard !tooLarge else { return }
      if (body?.readableBytes ?? 0) + chunk.readableBytes > maxBody {
        tooLarge = true
        body = nil
      } else {
        body?.writeBuffer(&chunk)
      }
    case .end:
      guard let requestHead = head else { return }
      head = nil
      if tooLarge {
        respond(context, requestHead, .payloadTooLarge, "request body larger than \(maxBody) bytes\n", close: true)
        return
      }
      forward(context, requestHead, body ?? context.channel.allocator.buffer(capacity: 0), attempts: 2)
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    for channel in backends.values { channel.close(promise: nil) }
    backends.removeAll()
    context.fireChannelInactive()
  }

  /// Sends the request to a picked replica; a replica that refuses the connection is skipped once.
  private func forward(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ body: ByteBuffer, attempts: Int)
  {
    guard let backend = router.pick(deployment, preview: preview, request: request) else {
      respond(context, request, .serviceUnavailable, "no healthy replica of \(deployment)\n", close: false)
      return
    }
    connection(to: backend.port, on: context.eventLoop).assumeIsolated().whenComplete { result in
      switch result {
      case .success(let channel):
        guard let handler = try? channel.pipeline.syncOperations.handler(type: BackendHandler.self) else {
          self.respond(context, request, .badGateway, "replica connection failed\n", close: false)
          return
        }
        handler.begin(
          front: context, frontHandler: self, version: backend.version, frontKeepAlive: request.isKeepAlive,
          frontVersion: request.version, started: self.started)
        var head = HTTPRequestHead(version: .http1_1, method: request.method, uri: request.uri)
        head.headers = request.headers
        for name in Self.hopByHop { head.headers.remove(name: name) }
        head.headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
        if body.readableBytes == 0, [.GET, .HEAD, .DELETE, .OPTIONS].contains(request.method) {
          head.headers.remove(name: "content-length")
        }
        if let remote = context.channel.remoteAddress?.ipAddress {
          head.headers.add(name: "x-forwarded-for", value: remote)
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if body.readableBytes > 0 { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
      case .failure:
        self.backends.removeValue(forKey: backend.port)
        if attempts > 1 {
          self.forward(context, request, body, attempts: attempts - 1)
        } else {
          self.respond(
            context, request, .badGateway, "replica on port \(backend.port) refused the connection\n",
            close: false)
        }
      }
    }
  }

  /// A live kept-alive connection to the replica on `port`, or a new one.
  private func connection(to port: Int, on eventLoop: EventLoop) -> EventLoopFuture<Channel> {
    if let channel = backends[port], channel.isActive { return eventLoop.makeSucceededFuture(channel) }
    let future = ClientBootstrap(group: eventLoop)
      .channelOption(.socketOption(.tcp_nodelay), value: 1)
      .connectTimeout(.seconds(2))
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHTTPClientHandlers()
          try channel.pipeline.syncOperations.addHandler(BackendHandler())
        }
      }
      .connect(host: "127.0.0.1", port: port)
    future.assumeIsolated().whenSuccess { channel in self.backends[port] = channel }
    return future
  }

  /// Counts an answer in the router's metrics (`version` nil: the router answered itself).
  func answered(version: Int?, status: HTTPResponseStatus, started: UInt64) {
    let seconds = Double(DispatchTime.now().uptimeNanoseconds &- started) / 1e9
    router.metrics.record(deployment: deployment, version: version, status: Int(status.code), seconds: seconds)
  }

  /// Called by the backend handler when the response ended: forget a replica connection that closes.
  func backendDone(port: Int, reusable: Bool) {
    if !reusable, let channel = backends.removeValue(forKey: port) { channel.close(promise: nil) }
  }

  func respond(
    _ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ status: HTTPResponseStatus, _ text: String,
    close: Bool
  ) {
    answered(version: nil, status: status, started: started)
    var headers = HTTPHeaders()
    headers.add(name: "content-type", value: "text/plain; charset=utf-8")
    headers.add(name: "content-length", value: String(text.utf8.count))
    let keepAlive = request.isKeepAlive && !close
    if !keepAlive { headers.add(name: "connection", value: "close") }
    context.write(
      wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
      promise: nil)
    if request.method != .HEAD {
      context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
    }
    let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
    if !keepAlive { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
  }
}

/// The replica side of one proxied exchange: relays the response parts to the client connection.
final class BackendHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPClientResponsePart

  private var front: ChannelHandlerContext?
  private weak var frontHandler: ProxyHandler?
  private var version = 0
  private var frontKeepAlive = true
  private var frontVersion = HTTPVersion.http1_1
  private var reusable = true
  private var responded = false
  private var status = HTTPResponseStatus.ok
  private var started: UInt64 = 0

  func begin(
    front: ChannelHandlerContext, frontHandler: ProxyHandler, version: Int, frontKeepAlive: Bool,
    frontVersion: HTTPVersion, started: UInt64
  ) {
    self.started = started
    self.front = front
    self.frontHandler = frontHandler
    self.version = version
    self.frontKeepAlive = frontKeepAlive
    self.frontVersion = frontVersion
    self.responded = false
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard let front else { return }
    switch unwrapInboundIn(data) {
    case .head(let head):
      responded = true
      status = head.status
      reusable = head.isKeepAlive
      var headers = head.headers
      for name in ["connection", "keep-alive", "proxy-connection"] { headers.remove(name: name) }
      headers.replaceOrAdd(name: "x-model-version", value: String(version))
      if !frontKeepAlive { headers.add(name: "connection", value: "close") }
      front.write(
        NIOAny(
          HTTPServerResponsePart.head(HTTPResponseHead(version: frontVersion, status: head.status, headers: headers))),
        promise: nil)
    case .body(let chunk):
      front.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(chunk))), promise: nil)
    case .end(let trailers):
      self.front = nil
      frontHandler?.answered(version: version, status: status, started: started)
      let done = front.writeAndFlush(NIOAny(HTTPServerResponsePart.end(trailers)))
      if !frontKeepAlive { done.assumeIsolated().whenComplete { _ in front.close(promise: nil) } }
      if let port = context.channel.remoteAddress?.port { frontHandler?.backendDone(port: port, reusable: reusable) }
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    // The replica closed mid-exchange: the client gets a 502 if nothing was sent yet, else a cut.
    if let front {
      self.front = nil
      frontHandler?.answered(version: version, status: responded ? status : .badGateway, started: started)
      if responded {
        front.close(promise: nil)
      } else {
        let text = "the replica closed the connection before answering\n"
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: String(text.utf8.count))
        headers.add(name: "connection", value: "close")
        front.write(
          NIOAny(
            HTTPServerResponsePart.head(HTTPResponseHead(version: frontVersion, status: .badGateway, headers: headers))),
          promise: nil)
        front.write(
          NIOAny(HTTPServerResponsePart.body(.byteBuffer(context.channel.allocator.buffer(string: text)))),
          promise: nil)
        front.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).assumeIsolated().whenComplete { _ in
          front.close(promise: nil)
        }
      }
    }
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    context.close(promise: nil)
  }
}
