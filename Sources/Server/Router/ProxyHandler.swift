import Dispatch
import NIOCore
import NIOHTTP1
import Reconciler

/// One client connection of a deployment's router. Each request is routed at its head and
/// streamed: its parts go to a pooled connection to the picked replica as they arrive, and the
/// response's parts come back as they arrive, with `X-Model-Version`. Parts read while the replica
/// connection opens are kept, so a replica that refuses it is skipped for another. Requests on
/// one connection are handled one at a time (NIO's pipelining handler holds the next).
final class ProxyHandler: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  /// Headers that describe one hop, not the message: never forwarded.
  static let hopByHop = [
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "expect",
  ]

  private enum State {
    case idle
    /// Waiting for a replica connection: nothing sent yet.
    case connecting(pending: [HTTPClientRequestPart], tried: Set<Int>)
    case forwarding(BackendHandler)
    /// The router answers itself once the request has been read (the parts are dropped).
    case answering(HTTPResponseStatus, String, close: Bool)
    /// The response is over before the request: its remaining parts are dropped.
    case draining
  }

  private let router: ProxyRouter
  private let pool: BackendPool
  private let deployment: String
  private let preview: Bool
  private let maxBody: Int
  private var context: ChannelHandlerContext?
  private var state = State.idle
  private var request: HTTPRequestHead?
  private var requestEnded = false
  private var bodyBytes = 0
  private var responded = false
  private var status = HTTPResponseStatus.ok
  private var version = 0
  /// When the request being handled started (its head was read), for the latency histogram.
  private var started: UInt64 = 0
  /// The client's address, for `X-Forwarded-For` (formatted once per connection).
  private var clientAddress: String?
  private var random = SplitMix64()
  /// Whether parts were written to the client, or to the replica, since the last flush: a flush
  /// with nothing to send still costs a trip through the pipeline.
  private var clientUnflushed = false
  private var backendUnflushed = false
  /// Whether reading from the client is paused (the replica cannot take more now).
  private var readingPaused = false
  /// Counts the requests of this connection: a replica connection that arrives for an earlier
  /// one (answered meanwhile) is given back, not used for the next.
  private var exchange = 0
  /// The response has no length and the client speaks HTTP/1.0: the connection closes after it.
  private var closeAfterResponse = false

  init(router: ProxyRouter, pool: BackendPool, deployment: String, preview: Bool, maxBody: Int) {
    self.router = router
    self.pool = pool
    self.deployment = deployment
    self.preview = preview
    self.maxBody = maxBody
  }

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    clientAddress = context.channel.remoteAddress?.ipAddress
  }

  // The context holds this handler: dropped here, or the two would keep each other alive.
  func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let head):
      begin(head)
    case .body(let chunk):
      bodyBytes += chunk.readableBytes
      if bodyBytes > maxBody { return tooLarge() }
      switch state {
      case .connecting(var pending, let tried):
        pending.append(.body(.byteBuffer(chunk)))
        state = .connecting(pending: pending, tried: tried)
      case .forwarding(let backend):
        backend.send(.body(.byteBuffer(chunk)))
        backendUnflushed = true
        if !backend.isWritable { setReading(false) }
      case .idle, .answering, .draining:
        break
      }
    case .end:
      requestEnded = true
      switch state {
      case .connecting(var pending, let tried):
        pending.append(.end(nil))
        state = .connecting(pending: pending, tried: tried)
      case .forwarding(let backend):
        backend.send(.end(nil))
        backendUnflushed = false
      case .answering(let status, let text, let close):
        respond(status, text, close: close)
      case .draining:
        state = .idle
      case .idle:
        break
      }
    }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    if backendUnflushed, case .forwarding(let backend) = state { backend.flush() }
    backendUnflushed = false
    context.fireChannelReadComplete()
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    if case .forwarding(let backend) = state { backend.setReading(context.channel.isWritable) }
    context.fireChannelWritabilityChanged()
  }

  func channelInactive(context: ChannelHandlerContext) {
    if case .forwarding(let backend) = state { backend.abandon() }
    state = .idle
    context.fireChannelInactive()
  }

  /// A request's head: refused (413, once the body is read) when its declared body is too large,
  /// else routed.
  private func begin(_ head: HTTPRequestHead) {
    exchange &+= 1
    request = head
    requestEnded = false
    bodyBytes = 0
    responded = false
    started = DispatchTime.now().uptimeNanoseconds
    if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxBody {
      state = .answering(.payloadTooLarge, "request body larger than \(maxBody) bytes\n", close: true)
      return
    }
    state = .connecting(pending: [.head(forwarded(head))], tried: [])
    connect()
  }

  /// Routes the request (to a replica not tried yet) and sends what was read once connected.
  private func connect() {
    guard case .connecting(_, let tried) = state, let head = request else { return }
    guard let backend = router.pick(deployment, preview: preview, request: head, excluding: tried, using: &random)
    else {
      let text =
        tried.isEmpty
        ? "no healthy replica of \(deployment)\n" : "replica on port \(tried.sorted()[0]) refused the connection\n"
      return unanswerable(tried.isEmpty ? .serviceUnavailable : .badGateway, text)
    }
    let exchange = exchange
    pool.lease(port: backend.port) { [self] handler in
      guard exchange == self.exchange, case .connecting(let pending, let tried) = state else {
        // The client went away meanwhile: the connection is fresh and unused.
        if let handler { pool.giveBack(handler) }
        return
      }
      guard let handler else {
        state = .connecting(pending: pending, tried: tried.union([backend.port]))
        // Refused: once more on another replica, if there is one.
        return tried.isEmpty
          ? connect() : unanswerable(.badGateway, "replica on port \(backend.port) refused the connection\n")
      }
      version = backend.version
      state = .forwarding(handler)
      handler.begin(self)
      for part in pending { handler.send(part) }
      if !requestEnded { handler.flush() }
    }
  }

  /// No replica can take the request: the answer goes now if the request was read whole, else
  /// once it has been.
  private func unanswerable(_ status: HTTPResponseStatus, _ text: String) {
    if requestEnded {
      respond(status, text, close: false)
    } else {
      state = .answering(status, text, close: false)
    }
  }

  private func tooLarge() {
    let text = "request body larger than \(maxBody) bytes\n"
    switch state {
    case .forwarding(let backend):
      // Part of the request went to the replica: that exchange is abandoned.
      backend.abandon()
      if responded { return closeClient() }
      requestEnded = true
      respond(.payloadTooLarge, text, close: true)
    case .connecting:
      // Answered now: a body without a declared length may never end.
      requestEnded = true
      respond(.payloadTooLarge, text, close: true)
    case .idle, .answering, .draining:
      break
    }
  }

  /// The head sent to the replica: hop-by-hop headers dropped, `X-Forwarded-For` added; a body
  /// without a length goes chunked (the encoder frames it).
  private func forwarded(_ head: HTTPRequestHead) -> HTTPRequestHead {
    var out = HTTPRequestHead(version: .http1_1, method: head.method, uri: head.uri, headers: head.headers)
    let chunked = head.headers[canonicalForm: "transfer-encoding"].contains { $0.lowercased() == "chunked" }
    for name in Self.hopByHop { out.headers.remove(name: name) }
    if chunked {
      // Framed again explicitly: NIO's encoder adds chunked framing on its own only for methods
      // that usually carry a body, and an unframed body on a pooled connection would be read by
      // the replica as a next request.
      out.headers.remove(name: "content-length")
      out.headers.add(name: "transfer-encoding", value: "chunked")
    }
    if let clientAddress { out.headers.add(name: "x-forwarded-for", value: clientAddress) }
    return out
  }

  private func setReading(_ reading: Bool) {
    guard reading == readingPaused else { return }
    readingPaused = !reading
    context?.channel.setOption(.autoRead, value: reading).whenFailure { _ in }
  }

  private func closeClient() {
    state = .idle
    context?.close(promise: nil)
  }
}

// MARK: - The response, as the backend hands it over

extension ProxyHandler {
  func relayHead(_ head: HTTPResponseHead) {
    guard let context, let request else { return }
    responded = true
    status = head.status
    var headers = head.headers
    // Hop-by-hop: the client's framing is the encoder's (chunked for HTTP/1.1 without a length).
    for name in Self.hopByHop { headers.remove(name: name) }
    headers.replaceOrAdd(name: "x-model-version", value: String(version))
    // An HTTP/1.0 client learns where a body without a length ends only from the close.
    closeAfterResponse =
      (request.version.major, request.version.minor) < (1, 1) && !headers.contains(name: "content-length")
      && request.method != .HEAD
      && head.status.mayHaveResponseBody
    if !request.isKeepAlive || closeAfterResponse { headers.add(name: "connection", value: "close") }
    let out = HTTPResponseHead(version: request.version, status: head.status, headers: headers)
    context.write(wrapOutboundOut(.head(out)), promise: nil)
    clientUnflushed = true
  }

  func relayBody(_ chunk: ByteBuffer) {
    guard let context else { return }
    context.write(wrapOutboundOut(.body(.byteBuffer(chunk))), promise: nil)
    clientUnflushed = true
    if !context.channel.isWritable, case .forwarding(let backend) = state { backend.setReading(false) }
  }

  func relayEnd(_ trailers: HTTPHeaders?) {
    guard let context else { return }
    // Detached before writing: a write that completes at once may close the client connection
    // right here, which must not abandon a replica connection whose exchange is over.
    state = requestEnded ? .idle : .draining
    clientUnflushed = false
    answered(version: version, status: status)
    // Decided before the write: writing the end may hand this handler the next pipelined request.
    let close = request?.isKeepAlive == false || closeAfterResponse
    let done = context.writeAndFlush(wrapOutboundOut(.end(trailers)))
    if close { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
  }

  func flushToClient() {
    guard clientUnflushed else { return }
    clientUnflushed = false
    context?.flush()
  }

  func backendWritabilityChanged(_ writable: Bool) {
    if case .forwarding = state { setReading(writable) }
  }

  /// The exchange with the replica is over (the response was relayed whole).
  func backendDone() { setReading(true) }

  /// The replica closed mid-exchange: a 502 if nothing was relayed yet, else the client's
  /// connection is cut (its response cannot be completed).
  func backendFailed() {
    if responded {
      answered(version: version, status: status)
      return closeClient()
    }
    requestEnded = true
    respond(.badGateway, "the replica closed the connection before answering\n", close: true)
  }

  /// Counts an answer in the router's metrics (`version` nil: the router answered itself).
  private func answered(version: Int?, status: HTTPResponseStatus) {
    let seconds = Double(DispatchTime.now().uptimeNanoseconds &- started) / 1e9
    router.metrics.record(deployment: deployment, version: version, status: Int(status.code), seconds: seconds)
  }

  /// The router's own answer (503, 502, 413), as plain text.
  func respond(_ status: HTTPResponseStatus, _ text: String, close: Bool) {
    guard let context, let request else { return }
    state = .idle
    answered(version: nil, status: status)
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

/// A small, fast generator for routing draws (a system random number per request costs a
/// syscall); seeded once per client connection from the system's.
struct SplitMix64: RandomNumberGenerator {
  private var state = UInt64.random(in: .min ... .max)

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
