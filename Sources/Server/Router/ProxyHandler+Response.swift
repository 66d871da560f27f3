import Dispatch
import NIOCore
import NIOHTTP1

/// The response side of a `ProxyHandler`: what its `BackendHandler` hands over, part by part,
/// and the router's own answers.
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
    mirror?.stableHead(head.status)
    let out = HTTPResponseHead(version: request.version, status: head.status, headers: headers)
    context.write(wrapOutboundOut(.head(out)), promise: nil)
    clientUnflushed = true
  }

  func relayBody(_ chunk: ByteBuffer) {
    guard let context else { return }
    context.write(wrapOutboundOut(.body(.byteBuffer(chunk))), promise: nil)
    mirror?.stableBody(chunk)
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
    if let mirror {
      // The copy was sent once the request was read whole; a response before that ends it.
      self.mirror = nil
      if requestEnded { mirror.stableEnded() } else { mirror.cancel() }
    }
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
    dropMirror()
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

extension ProxyHandler: BackendExchange {}
