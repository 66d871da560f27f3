import ModelOpsCore

/// A valid set of one resource of each kind, referring to each other; cases add a file beside it.
let baseManifests = """
  apiVersion: modelops/v1
  kind: Model
  metadata: {name: fraud}
  spec:
    pipeline: fraud-train
    aliases:
      staging: {policy: latest-passing, gates: [{metric: auc, min: 0.9}]}
      production: {version: 3}
  ---
  apiVersion: modelops/v1
  kind: Pipeline
  metadata: {name: fraud-train}
  spec:
    model: fraud
    steps: [{name: train, run: python3 train.py}]
  ---
  apiVersion: modelops/v1
  kind: Deployment
  metadata: {name: fraud-api}
  spec:
    model: fraud@production
    command: [python3, serve.py]
    listen: 127.0.0.1:9000
  ---
  apiVersion: modelops/v1
  kind: Monitor
  metadata: {name: fraud-errors}
  spec:
    deployment: fraud-api
    source: {scrape: {}}
    metric: {gauge: errors}
    threshold: {max: 1}
  """

/// Loads `base.yaml` (unless left out) and `case.yaml`; returns `line:column: message` of each
/// diagnostic of `case.yaml`, and the whole result.
func load(_ yaml: String, withBase: Bool = true, options: LoadOptions = LoadOptions()) -> (
  problems: [String], result: LoadResult
) {
  var files = ["case.yaml": yaml]
  if withBase { files["base.yaml"] = baseManifests }
  let result = ManifestLoader.load(from: MemoryTree(files: files), options: options)
  let problems = result.diagnostics.map { d in
    "\(d.location.path == "case.yaml" ? "" : d.location.path + ":")\(d.location.line):\(d.location.column): \(d.message)"
  }
  return (problems, result)
}

/// A document of `kind` named `name` with the given spec lines (indented two spaces).
func document(_ kind: String, _ name: String, _ spec: String) -> String {
  "apiVersion: modelops/v1\nkind: \(kind)\nmetadata:\n  name: \(name)\nspec:\n"
    + spec.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n") + "\n"
}
