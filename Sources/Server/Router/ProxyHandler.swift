import Dispatch
import NIOCore
import NIOHTTP1
import Reconciler

/// One client connection of a deployment's router. Each request is routed at its head and
/// streamed: its parts go to a pooled connection to the picked replica as they arrive, and the
/// response's parts come back as they arrive, with `X-Model-Version`. Parts read while the replica
/// connection opens are kept (reading pauses beyond 64 KiB of them), so a replica that refuses it
/// is skipped for another; once forwarding, reading follows the replica's pace. Requests on
/// one connection are handled one at a time (NIO's pipelining handler holds the next).
final class ProxyHandler: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  /// Headers that describe one hop, not the message: never forwarded.
  static let hopByHop = [
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "expect",
  ]

  enum State {
    case idle
    /// Waiting for a replica connection: nothing sent yet.
    case connecting(pending: [HTTPClientRequestPart], tried: Set<String>)
    case forwarding(BackendHandler)
    /// The router answers itself once the request has been read (the parts are dropped).
    case answering(HTTPResponseStatus, String, close: Bool)
    /// The response is over before the request: its remaining parts are dropped.
    case draining
  }

  let router: ProxyRouter
  private let pool: BackendPool
  let deployment: String
  private let preview: Bool
  private let maxBody: Int
  var context: ChannelHandlerContext?
  var state = State.idle
  var request: HTTPRequestHead?
  var requestEnded = false
  private var bodyBytes = 0
  var responded = false
  var status = HTTPResponseStatus.ok
  var version = 0
  /// When the request being handled started (its head was read), for the latency histogram.
  var started: UInt64 = 0
  /// The client's address, for `X-Forwarded-For` (formatted once per connection).
  private var clientAddress: String?
  private var random = SplitMix64()
  /// Whether parts were written to the client, or to the replica, since the last flush: a flush
  /// with nothing to send still costs a trip through the pipeline.
  var clientUnflushed = false
  private var backendUnflushed = false
  /// Whether reading from the client is paused (the replica cannot take more now).
  private var readingPaused = false
  /// Body bytes read while the replica connection opens, kept to be sent once it is open.
  private var pendingBytes = 0
  /// Beyond this, reading from the client waits for the replica connection.
  static let pendingLimit = 64 << 10
  /// Counts the requests of this connection: a replica connection that arrives for an earlier
  /// one (answered meanwhile) is given back, not used for the next.
  private var exchange = 0
  /// The response has no length and the client speaks HTTP/1.0: the connection closes after it.
  var closeAfterResponse = false
  /// In a canary's mirror step, the copy of the request being handled (nil when not mirrored).
  var mirror: MirrorCopy?

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
      mirror?.requestBodyRead(chunk)
      switch state {
      case .connecting(var pending, let tried):
        pending.append(.body(.byteBuffer(chunk)))
        state = .connecting(pending: pending, tried: tried)
        // What is kept while the replica connection opens stays small: the client waits.
        pendingBytes += chunk.readableBytes
        if pendingBytes > Self.pendingLimit { setReading(false) }
      case .forwarding(let backend):
        backend.send(.body(.byteBuffer(chunk)))
        backendUnflushed = true
        if !backend.isWritable { setReading(false) }
      case .idle, .answering, .draining:
        break
      }
    case .end:
      requestEnded = true
      mirror?.requestRead()
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
    dropMirror()
    state = .idle
    context.fireChannelInactive()
  }

  /// A request's head: refused (413) when its declared body is too large, else routed. A client
  /// that waits for `100 Continue` before sending its body (curl does, for large bodies) gets it
  /// from the router as from nginx (the header is hop-by-hop), or the 413 at once; one that sends
  /// its body anyway gets the 413 once it has been read (closing on an unread body would reset
  /// the connection, and the answer with it).
  private func begin(_ head: HTTPRequestHead) {
    exchange &+= 1
    request = head
    requestEnded = false
    bodyBytes = 0
    responded = false
    started = DispatchTime.now().uptimeNanoseconds
    let waits =
      head.version.minor >= 1
      && head.headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
    if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxBody {
      let text = "request body larger than \(maxBody) bytes\n"
      if waits { return respond(.payloadTooLarge, text, close: true) }
      state = .answering(.payloadTooLarge, text, close: true)
      return
    }
    if waits {
      let go = HTTPResponseHead(version: head.version, status: .continue)
      context?.writeAndFlush(wrapOutboundOut(.head(go)), promise: nil)
    }
    state = .connecting(pending: [.head(forwarded(head))], tried: [])
    pendingBytes = 0
    connect()
  }

  /// Routes the request (to a replica not tried yet) and sends what was read once connected.
  private func connect() {
    guard case .connecting(let pending, let tried) = state, let head = request else { return }
    var shadow: ProxyRouter.Shadow?
    let picked = router.pick(
      deployment, preview: preview, request: head, excluding: tried, shadow: &shadow, using: &random)
    if let shadow, case .head(let out)? = pending.first {
      mirror = MirrorCopy(
        deployment: deployment, head: out, shadow: shadow.backend, compare: shadow.compare, metrics: router.metrics,
        pool: pool)
    }
    guard let backend = picked else {
      let text =
        tried.isEmpty
        ? "no healthy replica of \(deployment)\n" : "replica \(tried.sorted()[0]) refused the connection\n"
      return unanswerable(tried.isEmpty ? .serviceUnavailable : .badGateway, text)
    }
    let exchange = exchange
    pool.lease(backend.address) { [self] handler in
      guard exchange == self.exchange, case .connecting(let pending, let tried) = state else {
        // The client went away meanwhile: the connection is fresh and unused.
        if let handler { pool.giveBack(handler) }
        return
      }
      guard let handler else {
        state = .connecting(pending: pending, tried: tried.union([backend.replica]))
        // Refused: once more on another replica, if there is one.
        return tried.isEmpty
          ? connect() : unanswerable(.badGateway, "replica \(backend.replica) refused the connection\n")
      }
      version = backend.version
      state = .forwarding(handler)
      handler.begin(self)
      for part in pending { handler.send(Self.routed(part, to: backend)) }
      pendingBytes = 0
      if !requestEnded { handler.flush() }
      setReading(handler.isWritable)
    }
  }

  /// A request's head with the backend's path prefix (a Serve application's route prefix) put
  /// before its path; other parts as they are.
  static func routed(_ part: HTTPClientRequestPart, to backend: DeploymentRoute.Backend) -> HTTPClientRequestPart {
    guard !backend.pathPrefix.isEmpty, case .head(var head) = part else { return part }
    head.uri = backend.pathPrefix + (head.uri.hasPrefix("/") ? head.uri : "/" + head.uri)
    return .head(head)
  }

  /// No replica can take the request: the answer goes now if the request was read whole, else
  /// once it has been.
  private func unanswerable(_ status: HTTPResponseStatus, _ text: String) {
    setReading(true)  // the rest of the request is read (and dropped) before the answer
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

  func setReading(_ reading: Bool) {
    guard reading == readingPaused else { return }
    readingPaused = !reading
    context?.channel.setOption(.autoRead, value: reading).whenFailure { _ in }
  }

  /// The exchange ended without a stable answer to compare: the mirrored copy is dropped.
  func dropMirror() {
    mirror?.cancel()
    mirror = nil
  }

  func closeClient() {
    dropMirror()
    state = .idle
    context?.close(promise: nil)
  }
}
