// What `vigil models list` shows: the models in a cache, with their size on disk, refs and snapshots, found the way
// huggingface_hub's `scan_cache_dir` finds them (one `models--org--name` folder per repository).

import Foundation

/// One model repository found in the cache.
public struct CachedModel: Sendable, Equatable {
    /// The repository id, `org/name`.
    public var repo: String
    /// `<root>/models--org--name`.
    public var folder: URL
    /// Bytes of the complete blobs (what the model takes on disk; links and partial downloads excluded).
    public var sizeBytes: Int64
    /// Bytes of partial downloads (`*.incomplete`) waiting to be resumed.
    public var incompleteBytes: Int64
    /// Branch or tag name → commit, from `refs/`, sorted by name.
    public var refs: [(name: String, commit: String)]
    /// The commits with a snapshot folder, sorted.
    public var snapshots: [String]

    public static func == (a: CachedModel, b: CachedModel) -> Bool {
        a.repo == b.repo && a.folder == b.folder && a.sizeBytes == b.sizeBytes
            && a.incompleteBytes == b.incompleteBytes && a.snapshots == b.snapshots
            && a.refs.map(\.name) == b.refs.map(\.name) && a.refs.map(\.commit) == b.refs.map(\.commit)
    }
}

extension HubCache {
    /// The model repositories in the cache, sorted by id. An absent cache root holds none.
    public func models() throws(HubError) -> [CachedModel] {
        let manager = FileManager.default
        guard manager.fileExists(atPath: root.path) else { return [] }
        let names: [String]
        do {
            names = try manager.contentsOfDirectory(atPath: root.path)
        } catch {
            throw HubError(.fileSystem, "cannot read the cache folder \(root.path)", underlying: "\(error)")
        }
        var models: [CachedModel] = []
        for name in names.sorted() where name.hasPrefix("models--") {
            let parts = name.dropFirst("models--".count).components(separatedBy: "--")
            guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty }) else { continue }
            let folder = root.appendingPathComponent(name, isDirectory: true)
            var complete: Int64 = 0
            var incomplete: Int64 = 0
            let blobs = folder.appendingPathComponent("blobs")
            for blob in (try? manager.contentsOfDirectory(atPath: blobs.path)) ?? [] {
                let size = Self.fileSize(blobs.appendingPathComponent(blob)) ?? 0
                if blob.hasSuffix(".incomplete") { incomplete += size } else { complete += size }
            }
            let snapshots =
                ((try? manager.contentsOfDirectory(atPath: folder.appendingPathComponent("snapshots").path))
                ?? []).filter { !$0.hasPrefix(".") }.sorted()
            models.append(
                CachedModel(
                    repo: parts.joined(separator: "/"), folder: folder, sizeBytes: complete,
                    incompleteBytes: incomplete, refs: refs(in: folder.appendingPathComponent("refs")),
                    snapshots: snapshots))
        }
        return models
    }

    /// Every ref file under `refs/` (nested for names such as `refs/pr/1`), as name → commit.
    private func refs(in folder: URL) -> [(name: String, commit: String)] {
        guard let walker = FileManager.default.enumerator(atPath: folder.path) else { return [] }
        var refs: [(name: String, commit: String)] = []
        while let relative = walker.nextObject() as? String {
            let file = folder.appendingPathComponent(relative)
            guard !relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }),
                Self.fileSize(file) != nil,
                let text = try? String(contentsOf: file, encoding: .utf8)
            else { continue }
            refs.append((relative, text.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        return refs.sorted { $0.name < $1.name }
    }
}
