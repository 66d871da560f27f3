import Foundation
import ModelOpsCore

/// Renders the outcome of `agent validate`.
enum ValidateReport {
  /// Errors on stderr, compiler-style; the one-line summary on stdout when valid.
  static func printText(_ result: LoadResult, terminal: Terminal) {
    for diagnostic in result.diagnostics {
      let label = diagnostic.severity == .error ? terminal.red("error:") : terminal.yellow("warning:")
      terminal.write("\(terminal.bold(diagnostic.location.description + ":")) \(label) \(diagnostic.message)\n")
    }
    let failing = result.diagnostics.filter { $0.severity == .error }
    if !failing.isEmpty {
      let errors = failing.count
      let files = Set(failing.map(\.location.path)).count
      terminal.write(
        "\(errors) error\(errors == 1 ? "" : "s") in \(files) file\(files == 1 ? "" : "s"); "
          + "nothing is valid until all are fixed.\n")
      return
    }
    let counts = ResourceKind.allCases.map { kind in
      let n = result.manifests.count(of: kind)
      return "\(n) \(kind.rawValue)\(n == 1 ? "" : "s")"
    }
    let files = result.files.count
    print(
      "Valid: \(result.manifests.count) resources in \(files) file\(files == 1 ? "" : "s") (\(counts.joined(separator: ", ")))."
    )
  }

  struct JSONReport: Encodable {
    struct Problem: Encodable {
      var file: String
      var line: Int
      var column: Int
      var severity: String
      var message: String
    }
    var valid: Bool
    var path: String
    var files: Int
    var resources: [String: Int]
    var errors: [Problem]
  }

  /// One JSON object on stdout (documented in the README).
  static func printJSON(_ result: LoadResult, path: String) throws {
    var resources: [String: Int] = [:]
    for kind in ResourceKind.allCases { resources[kind.rawValue] = result.manifests.count(of: kind) }
    let report = JSONReport(
      valid: result.isValid, path: path, files: result.files.count, resources: resources,
      errors: result.diagnostics.map {
        .init(
          file: $0.location.path, line: $0.location.line, column: $0.location.column,
          severity: $0.severity.rawValue, message: $0.message)
      })
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(report)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
  }
}
