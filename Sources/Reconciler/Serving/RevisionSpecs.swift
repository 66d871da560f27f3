import Foundation
import GitSource
import ModelOpsCore
import Synchronization

/// The deployment spec each revision runs with. A revision's template is usually the desired
/// spec's; when it is not (a rollback to the previous template, a replica of the stable revision
/// replaced in the middle of a rollout, an adopted rollout after a new commit), the spec is read
/// from the manifests of the commit the revision was rolled out from, so a replica never runs one
/// template's command and environment under another template's name.
final class RevisionSpecs: Sendable {
  let repository: GitRepository
  /// The manifests folder in the repository (nil: none), and how it is read (the agent's limits).
  let path: String?
  let options: LoadOptions
  /// `deployment#template` → the spec, read once per template.
  private let cache = Mutex<[String: Deployment]>([:])

  init(repository: GitRepository, path: String?, options: LoadOptions) {
    self.repository = repository
    self.path = path
    self.options = options
  }

  /// The spec `revision` of `deployment` runs with; `deployment` is the desired one.
  func spec(of deployment: Deployment, at revision: Revision, commit: String?) throws -> Deployment {
    let name = deployment.metadata.name
    if DesiredState.templateDigest(of: deployment) == revision.template { return deployment }
    let key = "\(name)#\(revision.template)"
    if let known = cache.withLock({ $0[key] }) { return known }
    // Without a manifests folder (an executor driven by tests) the desired spec is all there is.
    guard let path else { return deployment }
    guard let commit else {
      throw Stalled("the spec of \(name)'s revision \(revision) is not known: no commit is recorded for it")
    }
    let tree = repository.tree(at: try repository.resolve(commit))
    let result = ManifestReader(path: path, options: options).load(tree)
    guard let found = result.manifests.deployments[name], DesiredState.templateDigest(of: found) == revision.template
    else {
      throw Stalled(
        "the spec of \(name)'s revision \(revision) is not in commit \(commit.prefix(12)) (path \(path)): "
          + "its replicas cannot be started again")
    }
    cache.withLock { $0[key] = found }
    return found
  }
}
