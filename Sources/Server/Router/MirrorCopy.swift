import Dispatch
import ModelOpsCore
import NIOCore
import NIOHTTP1
import Reconciler

/// One request of a canary's mirror step, copied to a replica of the new revision once the
/// client's request has been read whole. The client gets the stable answer as it streams; this
/// keeps a copy of it (up to `maxBytes`) and of the shadow's answer, and counts the pair as
/// agreed or disagreed when both have ended. Nothing here delays the client: a shadow that has
/// not answered `patience` after the stable answer ended, a body too large to keep, or more than
/// `BackendPool.maxMirrors` copies in flight, and the pair is dropped (counted, not compared).
final class MirrorCopy {
  /// The largest request or answer body kept for a comparison.
  static let maxBytes = 1 << 20
  /// How long the shadow may take after the stable answer ended.
  static let patience = TimeAmount.seconds(2)

  private let deployment: String
  private let shadow: DeploymentRoute.Backend
  private let compare: AnswerComparison
  private let metrics: RouterMetrics
  private let pool: BackendPool
  private var head: HTTPRequestHead
  private var requestBody: ByteBuffer?
  private var stable: (status: Int, body: ByteBuffer?, ended: Bool) = (0, nil, false)
  private var answer: (status: Int, body: ByteBuffer?, ended: Bool) = (0, nil, false)
  private var backend: BackendHandler?
  private var sentAt: UInt64 = 0
  private var timer: Scheduled<Void>?
  private var over = false

  init(
    deployment: String, head: HTTPRequestHead, shadow: DeploymentRoute.Backend, compare: AnswerComparison,
    metrics: RouterMetrics, pool: BackendPool
  ) {
    self.deployment = deployment
    self.head = head
    self.shadow = shadow
    self.compare = compare
    self.metrics = metrics
    self.pool = pool
    self.head.headers.replaceOrAdd(name: "x-modelops-mirrored", value: "true")
  }

  // MARK: The client's side

  func requestBodyRead(_ chunk: ByteBuffer) {
    guard !over else { return }
    guard Self.keep(chunk, in: &requestBody) else { return drop() }
  }

  /// The client's request was read whole: the copy goes to the shadow.
  func requestRead() {
    guard !over else { return }
    guard pool.mirrors < BackendPool.maxMirrors else { return drop() }
    pool.mirrors += 1
    sentAt = DispatchTime.now().uptimeNanoseconds
    pool.lease(shadow.address) { [self] handler in
      guard !over else {
        if let handler { pool.giveBack(handler) }
        return
      }
      guard let handler else { return shadowFailed() }
      backend = handler
      handler.begin(self)
      handler.send(ProxyHandler.routed(.head(head), to: shadow))
      if let requestBody, requestBody.readableBytes > 0 { handler.send(.body(.byteBuffer(requestBody))) }
      requestBody = nil
      handler.send(.end(nil))
    }
  }

  func stableHead(_ status: HTTPResponseStatus) { stable.status = Int(status.code) }

  func stableBody(_ chunk: ByteBuffer) {
    guard !over else { return }
    guard Self.keep(chunk, in: &stable.body) else { return drop() }
  }

  /// The stable answer ended: compared now if the shadow's has too, else once it does (within
  /// `patience`).
  func stableEnded() {
    guard !over else { return }
    stable.ended = true
    if answer.ended { return finish() }
    timer = pool.eventLoop.assumeIsolated().scheduleTask(in: Self.patience) { [self] in drop() }
  }

  /// The client's exchange did not end with an answer from the stable replica: nothing to compare.
  func cancel() { drop() }

  // MARK: Ending

  private func finish() {
    guard !over, stable.ended, answer.ended else { return }
    let agreed = compare.agree(
      (stable.status, stable.body.map { Array($0.readableBytesView) } ?? []),
      (answer.status, answer.body.map { Array($0.readableBytesView) } ?? []))
    end(agreed ? .agreed : .disagreed)
  }

  /// The shadow could not be reached or closed without answering: the pair disagrees (the new
  /// version failed where the stable one answered), once the stable answer ends.
  private func shadowFailed() {
    backend = nil
    answer = (502, nil, true)
    if stable.ended { finish() }
  }

  private func drop() {
    if let backend {
      self.backend = nil
      backend.abandon()
    }
    end(.dropped)
  }

  private func end(_ result: RouterMetrics.MirrorResult) {
    guard !over else { return }
    over = true
    timer?.cancel()
    timer = nil
    requestBody = nil
    if sentAt != 0 { pool.mirrors -= 1 }
    metrics.recordMirror(deployment: deployment, version: shadow.version, result: result)
  }

  /// Appends a chunk to a kept body; false when it would pass `maxBytes`.
  private static func keep(_ chunk: ByteBuffer, in body: inout ByteBuffer?) -> Bool {
    guard (body?.readableBytes ?? 0) + chunk.readableBytes <= maxBytes else { return false }
    if body == nil {
      body = chunk
    } else {
      var chunk = chunk
      body?.writeBuffer(&chunk)
    }
    return true
  }
}

/// The shadow's side: its answer, part by part, from the replica connection.
extension MirrorCopy: BackendExchange {
  func relayHead(_ head: HTTPResponseHead) { answer.status = Int(head.status.code) }

  func relayBody(_ chunk: ByteBuffer) {
    guard !over else { return }
    guard Self.keep(chunk, in: &answer.body) else { return drop() }
  }

  func relayEnd(_ trailers: HTTPHeaders?) {
    guard !over else { return }
    backend = nil
    answer.ended = true
    let seconds = Double(DispatchTime.now().uptimeNanoseconds &- sentAt) / 1e9
    metrics.record(deployment: deployment, version: shadow.version, status: answer.status, seconds: seconds)
    if stable.ended { finish() }
  }

  func flushToClient() {}
  func backendWritabilityChanged(_ writable: Bool) {}
  func backendDone() {}

  func backendFailed() {
    guard !over else { return }
    shadowFailed()
  }
}
