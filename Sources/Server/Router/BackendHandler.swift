import ModelOpsCore
import NIOCore
import NIOHTTP1

/// Who an exchange on a replica connection answers to: a client's `ProxyHandler`, or a mirrored
/// request's `MirrorCopy`. Called on the connection's event loop.
protocol BackendExchange: AnyObject {
  func relayHead(_ head: HTTPResponseHead)
  func relayBody(_ chunk: ByteBuffer)
  func relayEnd(_ trailers: HTTPHeaders?)
  /// The replica's reads of this turn are over: what was relayed may be flushed.
  func flushToClient()
  func backendWritabilityChanged(_ writable: Bool)
  /// The exchange is over (the response was relayed whole).
  func backendDone()
  /// The replica closed mid-exchange.
  func backendFailed()
}

/// One kept-alive connection to a replica. During an exchange it takes the request's parts from
/// the client's `ProxyHandler` as they arrive and hands the response's parts back as they arrive:
/// nothing is buffered whole. Each side stops reading while the other cannot take more
/// (backpressure both ways). After a clean exchange the connection goes back to its pool.
final class BackendHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPClientResponsePart
  typealias OutboundOut = HTTPClientRequestPart

  let address: ListenAddress
  private unowned let pool: BackendPool
  private var context: ChannelHandlerContext?
  /// The client side of the exchange in progress (nil between exchanges).
  private var front: (any BackendExchange)?
  private var requestSent = false
  private var responseEnded = false
  private var reusable = true
  /// Whether reading from the replica is paused (the client cannot take more now).
  private var paused = false
  /// When the connection was last given back to its pool.
  var idleSince = NIODeadline.uptimeNanoseconds(0)

  init(address: ListenAddress, pool: BackendPool) {
    self.address = address
    self.pool = pool
  }

  var isActive: Bool { context?.channel.isActive ?? false }
  var isWritable: Bool { context?.channel.isWritable ?? false }

  func handlerAdded(context: ChannelHandlerContext) { self.context = context }
  func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

  /// Starts an exchange for `front`.
  func begin(_ front: any BackendExchange) {
    self.front = front
    requestSent = false
    responseEnded = false
    reusable = true
    setReading(true)
  }

  /// Writes a part of the request (flushed with `flush` or at the end).
  func send(_ part: HTTPClientRequestPart) {
    guard let context else { return }
    if case .end = part {
      requestSent = true
      context.writeAndFlush(wrapOutboundOut(part), promise: nil)
      finishIfDone()
    } else {
      context.write(wrapOutboundOut(part), promise: nil)
    }
  }

  func flush() { context?.flush() }

  /// Reads from the replica, or stops (the client cannot take more of the response now).
  func setReading(_ reading: Bool) {
    guard reading == paused else { return }
    paused = !reading
    context?.channel.setOption(.autoRead, value: reading).whenFailure { _ in }
  }

  /// The client went away or the exchange was abandoned: the connection is not reused.
  func abandon() {
    front = nil
    close()
  }

  func close() { context?.close(promise: nil) }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard let front else { return }
    switch unwrapInboundIn(data) {
    case .head(let head):
      reusable = head.isKeepAlive
      front.relayHead(head)
    case .body(let chunk):
      front.relayBody(chunk)
    case .end(let trailers):
      responseEnded = true
      front.relayEnd(trailers)
      finishIfDone()
    }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    front?.flushToClient()
    context.fireChannelReadComplete()
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    front?.backendWritabilityChanged(context.channel.isWritable)
    context.fireChannelWritabilityChanged()
  }

  func channelInactive(context: ChannelHandlerContext) {
    if let front {
      // The replica closed mid-exchange.
      self.front = nil
      front.backendFailed()
    } else {
      pool.forget(self)
    }
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }

  /// Both directions ended: the client is told, and the connection goes back to the pool (or is
  /// closed when the replica asked for it or answered before the request was sent whole).
  private func finishIfDone() {
    guard let front, responseEnded, requestSent else {
      // A response that ended before the request did: the replica will not read the rest.
      if responseEnded, !requestSent, let front {
        self.front = nil
        front.backendDone()
        close()
      }
      return
    }
    self.front = nil
    front.backendDone()
    // Idle in the pool it reads again, so that a replica closing the connection is noticed.
    setReading(true)
    if reusable { pool.giveBack(self) } else { close() }
  }
}
