import Foundation
import Testing

/// `agent validate` as a newcomer meets it: every error of a document at once, no error in other
/// files caused by one, and libyaml's syntax errors with what to fix.
@Suite struct ValidationMessagesTests {
  @Test func aMisspelledMetadataHidesNothingAndCascadesNowhere() throws {
    let scratch = try Scratch()
    try scratch.write(
      "d.yaml",
      """
      apiVersion: modelops/v1
      kind: Deployment
      metdata: {name: api}
      spec:
        model: m@production
        command: [python3, s.py]
        listen: 127.0.0.1:9000
        stratgy: {type: rolling}

      """)
    try scratch.write(
      "m.yaml",
      """
      apiVersion: modelops/v1
      kind: Monitor
      metadata: {name: mon}
      spec: {deployment: api, source: {router: {}}, metric: {errorRate: {}}, threshold: {max: 0.1}}
      ---
      apiVersion: modelops/v1
      kind: Model
      metadata: {name: m}
      spec: {aliases: {production: {version: 1}}}

      """)
    let lines = try agent("validate", scratch.url.path).stderr.split(separator: "\n").map(String.init)
    // Every error of the document (the one after the misspelling too), and none in the file that
    // refers to the deployment by the name under the misspelled key.
    #expect(
      lines == [
        "\(scratch.url.path)/d.yaml:1:1: error: missing required field 'metadata' in the document",
        "\(scratch.url.path)/d.yaml:3:1: error: unknown field 'metdata' (did you mean 'metadata'?)",
        "\(scratch.url.path)/d.yaml:8:3: error: unknown field 'stratgy' (did you mean 'strategy'?)",
        "3 errors in 1 file; nothing is valid until all are fixed.",
      ])
  }

  @Test func libyamlsSyntaxErrorsSayWhatToFix() throws {
    let scratch = try Scratch()
    try scratch.write(
      "dedented.yaml",
      "apiVersion: modelops/v1\nkind: Model\nmetadata:\n  name: m\nspec:\n  aliases: {p: {version: 1}}\n"
        + "retain: 3\n  description: x\n")
    try scratch.write("tab.yaml", "apiVersion: modelops/v1\nkind: Model\nmetadata:\n\tname: x\n")
    let errors = try agent("validate", scratch.url.path).stderr
    #expect(
      errors.contains(
        "dedented.yaml:8:14: error: YAML syntax error: mapping values are not allowed in this context — "),
      "\(errors)")
    #expect(errors.contains("not indented like the keys around them"), "\(errors)")
    #expect(
      errors.contains(
        "tab.yaml:4:1: error: YAML syntax error: found character that cannot start any token — "
          + "a tab: YAML indents with spaces only"), "\(errors)")
  }
}
