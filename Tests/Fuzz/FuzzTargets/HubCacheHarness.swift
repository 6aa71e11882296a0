// Fuzz harness: Hugging Face cache metadata, which other tools (and other people's caches) write. Parts: a repo id,
// a revision, the contents of refs/<revision>, a model.safetensors.index.json, and a file name. The harness lays out
// a cache as huggingface_hub would (refs, a snapshot holding the file), then reads it back: the commit a revision
// names, the snapshot's files, the listing `vigil models list` shows, the index's shards; and checks the names the
// way `--model`, `--revision` and downloads do.

import Foundation
import ModelHub

enum HubCacheHarness {
    static func run(_ input: [UInt8]) {
        let parts = FuzzInput.parts(input, count: 5).map(FuzzInput.text)
        let (repo, revision, ref, index, file) = (parts[0], parts[1], parts[2], parts[3], parts[4])
        let root = Scratch.emptyFolder("hub-cache")
        let cache = HubCache(root: root)

        _ = ModelLocation.isRepoID(repo)
        _ = ModelLocation.isCommitHash(revision)
        _ = try? ModelLocation.parse(repo, revision: revision, currentDirectory: root.path)
        let revisionIsValid = (try? ModelLocation.validate(revision: revision)) != nil
        let fileIsValid = (try? ModelResolver.validate(file: file)) != nil
        let folderName = HubCache.folderName(repo: repo)
        // Only names the product would write under the cache root (a valid id, revision and file) are laid out.
        guard ModelLocation.isRepoID(repo), revisionIsValid, !folderName.contains("\0") else { return }
        let refFile = cache.refFile(repo: repo, revision: revision)
        Scratch.write(Array(ref.utf8), to: refFile.lastPathComponent, in: refFile.deletingLastPathComponent())
        if let commit = cache.commit(repo: repo, revision: revision) {
            let snapshot = cache.snapshotFolder(repo: repo, commit: commit)
            // The snapshot folder must stay inside the repository's folder, whatever the ref says.
            precondition(
                snapshot.standardizedFileURL.path.hasPrefix(cache.repoFolder(repo).standardizedFileURL.path + "/"),
                "the snapshot of ref '\(ref)' is outside the repository folder")
            if fileIsValid {
                Scratch.write(Array(index.utf8), to: file, in: snapshot)
                _ = cache.contains(repo: repo, commit: commit, file: file)
                _ = try? ModelResolver.shards(inIndex: snapshot.appendingPathComponent(file))
            }
            _ = cache.isMarkedMissing(repo: repo, commit: commit, file: file)
        }
        _ = try? cache.models()
    }
}
