import Foundation
import Synchronization

/// One notification: what happened to which resource, between which versions, why, at which commit.
public struct Notification: Sendable, Hashable, Encodable {
  /// `rollback`, `run-failed`, `apply-failed`, `promoted` or `monitor-fired`.
  public var event: String
  /// `Kind/name`, as in `agent history`.
  public var resource: String
  public var from: String?
  public var to: String?
  public var reason: String
  public var commit: String?
  public var at: Date

  public init(
    event: String, resource: String, from: String? = nil, to: String? = nil, reason: String, commit: String? = nil,
    at: Date = Date()
  ) {
    self.event = event
    self.resource = resource
    self.from = from
    self.to = to
    self.reason = reason
    self.commit = commit
    self.at = at
  }
}

/// Where notifications go: a URL and the events it wants (all when empty).
public struct NotifyTarget: Sendable, Hashable {
  public var url: String
  public var events: [String]

  public init(url: String, events: [String]) {
    self.url = url
    self.events = events
  }
}

/// Delivers notifications as JSON POSTs on its own thread, so a slow or failing target never
/// holds up reconciliation: each delivery is tried up to `attempts` times with doubling waits
/// (1 s, 2 s, 4 s, …); the queue is bounded and drops its oldest entry when full.
public final class Notifier: Sendable {
  struct Delivery {
    var url: String
    var body: Data
    var attempt: Int
    var due: Date
  }

  public let targets: [NotifyTarget]
  let attempts: Int
  let firstWait: TimeInterval
  let capacity = 1000
  let queue = Mutex<[Delivery]>([])
  let wake = NSCondition()
  let started = Mutex(false)
  let log: @Sendable (String) -> Void

  public init(
    targets: [NotifyTarget], attempts: Int = 5, firstWait: TimeInterval = 1, log: @escaping @Sendable (String) -> Void
  ) {
    self.targets = targets
    self.attempts = attempts
    self.firstWait = firstWait
    self.log = log
  }

  /// Queues `notification` for every target that wants its event; returns at once.
  public func send(_ notification: Notification) {
    let wanted = targets.filter { $0.events.isEmpty || $0.events.contains(notification.event) }
    guard !wanted.isEmpty else { return }
    let encoder = JSONEncoder()
    encoder.dateEncodingStrategy = .iso8601
    encoder.outputFormatting = [.sortedKeys]
    guard let body = try? encoder.encode(notification) else { return }
    let dropped = queue.withLock { queue -> Int in
      for target in wanted { queue.append(Delivery(url: target.url, body: body, attempt: 0, due: Date())) }
      let over = max(0, queue.count - capacity)
      queue.removeFirst(over)
      return over
    }
    if dropped > 0 { log("notify: queue full, \(dropped) oldest notification(s) dropped") }
    startIfNeeded()
    wake.lock()
    wake.signal()
    wake.unlock()
  }

  /// Notifications waiting to be delivered (for tests and the benchmark).
  public var pending: Int { queue.withLock { $0.count } }

  private func startIfNeeded() {
    let first = started.withLock { started -> Bool in
      defer { started = true }
      return !started
    }
    guard first else { return }
    let thread = Thread { [self] in self.deliverForever() }
    thread.name = "modelops-notify"
    thread.start()
  }

  private func deliverForever() {
    while true {
      let now = Date()
      let next = queue.withLock { queue -> Delivery? in
        guard let index = queue.firstIndex(where: { $0.due <= now }) else { return nil }
        return queue.remove(at: index)
      }
      guard var delivery = next else {
        let wait = queue.withLock { $0.map(\.due).min() }.map { max(0.01, $0.timeIntervalSinceNow) } ?? 60
        wake.lock()
        _ = wake.wait(until: Date().addingTimeInterval(wait))
        wake.unlock()
        continue
      }
      let outcome: String?
      do {
        let response = try HTTPClient.request(
          "POST", delivery.url, headers: ["Content-Type": "application/json"], body: delivery.body, timeout: 5)
        outcome = (200..<300).contains(response.status) ? nil : "HTTP \(response.status)"
      } catch {
        outcome = "\(error)"
      }
      guard var failure = outcome else { continue }
      delivery.attempt += 1
      let target = redactedHost(delivery.url)
      failure = failure.replacingOccurrences(of: delivery.url, with: target)
      guard delivery.attempt < attempts else {
        log("notify: gave up on \(target) after \(attempts) attempts: \(failure)")
        continue
      }
      let wait = firstWait * Double(1 << (delivery.attempt - 1))
      log("notify: \(target) failed (\(failure)); retrying in \(wait) s")
      delivery.due = Date().addingTimeInterval(wait)
      queue.withLock { $0.append(delivery) }
    }
  }

  /// Scheme and host only: a webhook URL's path often is its secret (Slack, Teams).
  private func redactedHost(_ url: String) -> String {
    guard let components = URLComponents(string: url), let host = components.host else { return "a target" }
    return "\(components.scheme ?? "http")://\(host)\(components.port.map { ":\($0)" } ?? "")"
  }
}
