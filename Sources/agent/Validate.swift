import ArgumentParser
import Foundation
import ModelOpsCore

/// `agent validate [PATH]`: schema and reference checks of a manifests folder or file.
struct Validate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check manifests (schema and references); print every error.",
    discussion: """
      Exit status: 0 when every manifest is valid, 1 when any is not (every error is printed, \
      compiler-style, as path:line:column: error: message).
      """
  )

  @Argument(help: "A manifests folder (read recursively) or a single manifest file.")
  var path: String = "."

  @Option(help: "Output format: text or json.")
  var format: OutputFormat = .text

  @Option(help: "Largest manifest file accepted, in bytes.")
  var maxFileBytes: Int = LoadOptions().maxFileBytes

  func validate() throws {
    guard maxFileBytes > 0 else { throw ValidationError("--max-file-bytes must be positive") }
  }

  func run() throws {
    var options = LoadOptions()
    options.maxFileBytes = maxFileBytes
    let result = ManifestLoading.load(path: path, options: options)
    switch format {
    case .text: ValidateReport.printText(result, terminal: Terminal.standardError)
    case .json: try ValidateReport.printJSON(result, path: path)
    }
    if !result.isValid { throw ExitCode(1) }
  }
}

/// Loads a folder or file from disk, showing paths the way the user typed them.
enum ManifestLoading {
  static func load(path: String, options: LoadOptions) -> LoadResult {
    var isFolder: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
    if exists, !isFolder.boolValue {
      // A single file: the tree is its folder, so a symlink may not leave that folder.
      let url = URL(fileURLWithPath: path)
      let tree = DirectoryTree(root: url.deletingLastPathComponent().path)
      return ManifestLoader.load(from: tree, path: url.lastPathComponent, displayRoot: path, options: options)
    }
    let root = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    return ManifestLoader.load(from: DirectoryTree(root: root), path: "", displayRoot: root, options: options)
  }
}
