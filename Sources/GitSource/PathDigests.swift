import ModelOpsCore

/// What each pipeline's desired state needs from a commit beyond its manifests: the tree id of
/// its workdir and the md5 each DVC pointer records. What the last commit gave is kept, and a
/// pipeline's paths are looked up again only when they changed or the top folder holding them
/// did (its id differs): a commit that changes one manifest costs a lookup per top folder, not
/// per pipeline. Not thread-safe: it belongs to the reader of one loop.
struct PathDigests {
  /// What one pipeline read: its paths, and the top folders they lie in at that commit.
  private struct Read {
    var workdir: String
    var pointers: [DVCPointer]
    var workdirID: String?
    var md5s: [String: String]
    var tops: [String]
  }

  private struct DVCPointer: Equatable {
    var input: String
    var path: String
  }

  private var read: [String: Read] = [:]
  /// The id of each top folder a read path lies in, at the last commit (nil: there was none).
  private var tops: [String: ObjectID?] = [:]

  /// The workdir ids and DVC digests of `pipelines` at `tree`.
  mutating func digests(of pipelines: [String: Pipeline], in tree: GitTree) -> (
    workdirs: [String: String], dvc: [String: [String: String]]
  ) {
    var topsNow: [String: ObjectID?] = [:]
    var changed: Set<String> = []
    for (top, id) in tops {
      let now = try? tree.objectID(at: top)
      topsNow[top] = now
      if now != id { changed.insert(top) }
    }
    var workdirs: [String: String] = [:]
    var dvc: [String: [String: String]] = [:]
    var readNow: [String: Read] = [:]
    readNow.reserveCapacity(pipelines.count)
    for (name, pipeline) in pipelines {
      let workdir = pipeline.spec.workdir == "." ? "" : pipeline.spec.workdir
      let pointers = pipeline.spec.inputs.compactMap { input -> DVCPointer? in
        guard case .dvc(let path) = input.source else { return nil }
        return DVCPointer(input: input.name, path: path)
      }
      var entry: Read
      if let old = read[name], old.workdir == workdir, old.pointers == pointers,
        changed.isEmpty || !old.tops.contains(where: changed.contains)
      {
        entry = old
      } else {
        entry = Self.look(workdir: workdir, pointers: pointers, in: tree)
        for top in entry.tops where topsNow[top] == nil {
          topsNow[top] = .some(try? tree.objectID(at: top))
        }
      }
      if let id = entry.workdirID { workdirs[name] = id }
      if !entry.md5s.isEmpty { dvc[name] = entry.md5s }
      readNow[name] = entry
    }
    read = readNow
    tops = topsNow
    return (workdirs, dvc)
  }

  private static func look(workdir: String, pointers: [DVCPointer], in tree: GitTree) -> Read {
    var md5s: [String: String] = [:]
    for pointer in pointers {
      if let md5 = ManifestReader.dvcDigest(tree, pointer.path) { md5s[pointer.input] = md5 }
    }
    let paths = [workdir] + pointers.map(\.path)
    return Read(
      workdir: workdir, pointers: pointers, workdirID: (try? tree.objectID(at: workdir))?.hex, md5s: md5s,
      tops: Array(Set(paths.map(top(of:)))))
  }

  /// The first component of a repo-relative path (`""` for the root itself).
  private static func top(of path: String) -> String {
    guard let slash = path.firstIndex(of: "/") else { return path }
    return String(path[..<slash])
  }
}
