import Foundation
import ModelOpsCore
import Testing

/// `agent models`'s table (golden): newest first per model, a column per metric any version has,
/// notes for rejected and collected versions, cut to 120 columns.
@Suite struct ModelsTableTests {
  @Test func aRowPerVersionAndAColumnPerMetric() throws {
    let at = Date(timeIntervalSince1970: 1_796_000_000)
    let versions = [
      VersionSummary(
        model: "fraud", version: 1, aliases: [], metrics: ["auc": 0.91, "log_loss": 0.2], createdAt: at, run: "run-1",
        commit: "0123456789abcdef", note: "artifact collected"),
      VersionSummary(
        model: "fraud", version: 2, aliases: ["production", "staging"], metrics: ["auc": 0.935], createdAt: at,
        run: "run-2", commit: "fedcba9876543210", note: nil),
      VersionSummary(
        model: "fraud", version: 3, aliases: [], metrics: ["auc": 0.95, "agreement": 0.66667], createdAt: at,
        run: "run-3", commit: "aaaabbbbccccdddd",
        note: "rejected: analysis failed: monitor 'fraud-agreement' fired on v3 (agreement 0.667 below 0.97)"),
      VersionSummary(
        model: "churn", version: 1, aliases: ["production"], metrics: [:], createdAt: at, run: nil, commit: nil,
        note: nil),
    ]
    let utc = try #require(TimeZone(identifier: "UTC"))
    let table = ModelsTable.render(versions, timeZone: utc)
    #expect(table.split(separator: "\n").allSatisfy { $0.count <= 120 })
    try expectGolden(table, "models.txt")
  }
}
