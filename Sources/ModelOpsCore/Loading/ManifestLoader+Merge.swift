extension ManifestLoader {
  /// The set a load built, kept so that the next load can patch it (the resources of the files it
  /// parsed again out, their new ones in) rather than insert 10,000 resources anew. Kept only
  /// for a set without duplicates: then every resource has one file, and the order in which
  /// files are merged cannot change the result.
  struct MergedSet: Sendable {
    var set: ManifestSet
    /// The resources each file declared, by shown path.
    var declared: [String: [ResourceID]]
  }

  /// Every file's resources in one set, in file order: a resource declared again is reported as a
  /// duplicate of the first. References, listen claims and diagnostics are gathered from every
  /// file; the set is patched from the cache's when few files were parsed, else built anew.
  static func merge(
    _ files: [ManifestFile], _ outcomes: [FileOutcome], parsed: [Int], cache: inout ParseCache,
    diagnostics: inout [Diagnostic]
  ) -> (ManifestSet, [Reference], [ListenClaim], Set<ResourceID>) {
    var references: [Reference] = []
    references.reserveCapacity(outcomes.reduce(0) { $0 + $1.references.count })
    var claims: [ListenClaim] = []
    claims.reserveCapacity(outcomes.reduce(0) { $0 + $1.claims.count })
    var declaredWithErrors: Set<ResourceID> = []
    for outcome in outcomes {
      diagnostics += outcome.diagnostics
      declaredWithErrors.formUnion(outcome.declaredWithErrors)
      references += outcome.references
      claims += outcome.claims
    }
    if var merged = cache.takeMergedSet(), parsed.count * 2 <= files.count,
      patch(&merged, files, outcomes, parsed: parsed)
    {
      cache.keep(merged)
      return (merged.set, references, claims, declaredWithErrors)
    }
    let (merged, unique) = build(files, outcomes, diagnostics: &diagnostics)
    cache.keep(unique ? merged : nil)
    return (merged.set, references, claims, declaredWithErrors)
  }

  /// The set built file after file, and whether every resource was declared once (duplicates
  /// are reported, and left out).
  private static func build(_ files: [ManifestFile], _ outcomes: [FileOutcome], diagnostics: inout [Diagnostic])
    -> (MergedSet, unique: Bool)
  {
    var merged = MergedSet(set: ManifestSet(), declared: [:])
    merged.set.reserveCapacity(for: outcomes.lazy.flatMap(\.kinds))
    merged.declared.reserveCapacity(files.count)
    var duplicates = false
    for (file, outcome) in zip(files, outcomes) {
      var ids: [ResourceID] = []
      for (manifest, location) in outcome.resources {
        let id = ResourceID(manifest.kind, manifest.metadata.name)
        guard merged.set.insert(manifest, at: location) else {
          duplicates = true
          let first = merged.set.locations[id].map { " (first declared at \($0))" } ?? ""
          diagnostics.append(Diagnostic(.error, at: location, "duplicate \(id.kind.rawValue) '\(id.name)'\(first)"))
          continue
        }
        ids.append(id)
      }
      merged.declared[file.display] = ids
    }
    return (merged, !duplicates)
  }

  /// Takes out of the previous set the resources of files parsed again or no longer listed, and
  /// puts in the new resources of the files parsed; false when one of those is declared twice
  /// (the set is then built anew, which reports it).
  private static func patch(
    _ merged: inout MergedSet, _ files: [ManifestFile], _ outcomes: [FileOutcome], parsed: [Int]
  ) -> Bool {
    var stale = parsed.map { files[$0].display }
    // Files listed before and not parsed now were reused; any other file listed before is gone.
    let reused = files.count - parsed.count
    let reparsed = stale.count { merged.declared[$0] != nil }
    if merged.declared.count != reused + reparsed {
      let listed = Set(files.map(\.display))
      stale += merged.declared.keys.filter { !listed.contains($0) }
    }
    for display in stale {
      for id in merged.declared.removeValue(forKey: display) ?? [] { merged.set.remove(id) }
    }
    for index in parsed {
      var ids: [ResourceID] = []
      for (manifest, location) in outcomes[index].resources {
        ids.append(ResourceID(manifest.kind, manifest.metadata.name))
        guard merged.set.insert(manifest, at: location) else { return false }
      }
      merged.declared[files[index].display] = ids
    }
    return true
  }
}
