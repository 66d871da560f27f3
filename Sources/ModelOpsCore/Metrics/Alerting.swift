import Foundation

/// Alertmanager's webhook body, version 4 (the fields the agent reads; others are ignored).
public struct AlertmanagerPayload: Sendable, Hashable, Decodable {
  public struct Alert: Sendable, Hashable, Decodable {
    /// `firing` or `resolved`.
    public var status: String
    public var labels: [String: String]
    public var annotations: [String: String]

    public init(status: String, labels: [String: String], annotations: [String: String] = [:]) {
      self.status = status
      self.labels = labels
      self.annotations = annotations
    }

    enum CodingKeys: String, CodingKey { case status, labels, annotations }

    public init(from decoder: any Decoder) throws {
      let c = try decoder.container(keyedBy: CodingKeys.self)
      status = try c.decode(String.self, forKey: .status)
      labels = try c.decode([String: String].self, forKey: .labels)
      annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations) ?? [:]
    }
  }

  public var version: String
  public var status: String
  public var receiver: String
  public var alerts: [Alert]

  /// The largest body read; Alertmanager truncates a group's alerts itself (`max_alerts`).
  public static let maxBytes = 1 << 20

  /// Decodes a webhook body; says what is wrong with one that is not a version-4 payload.
  public static func decode(_ data: Data) throws -> AlertmanagerPayload {
    guard data.count <= maxBytes else { throw MetricsError("the payload is larger than \(maxBytes) bytes") }
    let payload: AlertmanagerPayload
    do {
      payload = try JSONDecoder().decode(AlertmanagerPayload.self, from: data)
    } catch {
      throw MetricsError(
        "not an Alertmanager webhook payload (version 4): needs version, status, receiver and alerts "
          + "[{status, labels, annotations}]")
    }
    guard payload.version == "4" else {
      throw MetricsError("Alertmanager webhook payload version \(payload.version) is not supported (4 is)")
    }
    for alert in payload.alerts where alert.status != "firing" && alert.status != "resolved" {
      throw MetricsError("alert status '\(alert.status)' is neither firing nor resolved")
    }
    return payload
  }
}

/// Reads the answer of Prometheus' instant query API (`GET /api/v1/query`).
public enum PrometheusQuery {
  /// The values of a `vector` result (one per series) or of a `scalar`; NaN samples are left
  /// out. Throws Prometheus' own error for a failed query.
  public static func values(_ body: Data, status: Int) throws -> [Double] {
    guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
      throw MetricsError("HTTP \(status), not a Prometheus API answer")
    }
    guard object["status"] as? String == "success" else {
      let kind = object["errorType"] as? String ?? "error"
      throw MetricsError("\(kind): \(object["error"] as? String ?? "HTTP \(status)")")
    }
    guard let data = object["data"] as? [String: Any], let type = data["resultType"] as? String else {
      throw MetricsError("the answer has no data.resultType")
    }
    func number(_ pair: Any?) -> Double? {
      guard let pair = pair as? [Any], pair.count == 2, let text = pair[1] as? String,
        let value = PrometheusText.number(Substring(text)), !value.isNaN
      else { return nil }
      return value
    }
    switch type {
    case "vector":
      let series = data["result"] as? [[String: Any]] ?? []
      return series.compactMap { number($0["value"]) }
    case "scalar":
      return number(data["result"]).map { [$0] } ?? []
    default:
      throw MetricsError("the query returns a \(type); an instant vector or a scalar is needed")
    }
  }
}
