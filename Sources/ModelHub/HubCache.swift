// The Hugging Face cache layout, read and written exactly as huggingface_hub does (its "Local Cache" reference),
// so a cache filled by the Python tools serves Vigil and the other way round:
//
//   <root>/CACHEDIR.TAG                                  backup tools skip the cache (same text as huggingface_hub)
//   <root>/.locks/models--org--name/<etag>.lock          flock(2) held while a blob is written
//   <root>/models--org--name/refs/<revision>             the commit hash a branch or tag points at (no newline)
//   <root>/models--org--name/blobs/<etag>                file contents, named by the hub's etag
//   <root>/models--org--name/blobs/<etag>.incomplete     a download in progress (resumed with Range)
//   <root>/models--org--name/snapshots/<commit>/<file>   relative symlink to ../../blobs/<etag>
//   <root>/models--org--name/.no_exist/<commit>/<file>   empty: the file is known not to exist at that commit
//
// A revision that is itself a commit hash has no ref: its snapshot is `snapshots/<revision>`.

import Foundation
import Glibc

/// The on-disk Hugging Face cache under one root folder.
public struct HubCache: Sendable {
    /// The cache root (`~/.cache/huggingface/hub`).
    public let root: URL

    /// The cache under `root`.
    public init(root: URL) {
        self.root = root
    }

    /// The text huggingface_hub writes to `<root>/CACHEDIR.TAG` (the Cache Directory Tagging Standard).
    static let cacheDirTag =
        "Signature: 8a477f597d28d172789f06886806bc55\n"
        + "# This file is a cache directory tag created by huggingface_hub.\n"
        + "# For information about cache directory tags, see:\n"
        + "#\thttps://bford.info/cachedir/\n"

    // MARK: - Paths

    /// `models--org--name` for `org/name`.
    public static func folderName(repo: String) -> String {
        "models--" + repo.replacingOccurrences(of: "/", with: "--")
    }

    /// `<root>/models--org--name`.
    public func repoFolder(_ repo: String) -> URL {
        root.appendingPathComponent(Self.folderName(repo: repo), isDirectory: true)
    }

    /// The file holding the commit of `revision`.
    public func refFile(repo: String, revision: String) -> URL {
        repoFolder(repo).appendingPathComponent("refs").appendingPathComponent(revision)
    }

    /// The snapshot folder of `commit`.
    public func snapshotFolder(repo: String, commit: String) -> URL {
        repoFolder(repo).appendingPathComponent("snapshots").appendingPathComponent(commit, isDirectory: true)
    }

    /// The blob named `etag`.
    public func blobFile(repo: String, etag: String) -> URL {
        repoFolder(repo).appendingPathComponent("blobs").appendingPathComponent(etag)
    }

    /// The partial download of blob `etag`.
    public func incompleteFile(repo: String, etag: String) -> URL {
        repoFolder(repo).appendingPathComponent("blobs").appendingPathComponent(etag + ".incomplete")
    }

    /// The lock file guarding the download of blob `etag` (shared with huggingface_hub's FileLock).
    public func lockFile(repo: String, etag: String) -> URL {
        root.appendingPathComponent(".locks").appendingPathComponent(Self.folderName(repo: repo))
            .appendingPathComponent(etag + ".lock")
    }

    /// The marker recording that `file` does not exist at `commit`.
    public func missingMarker(repo: String, commit: String, file: String) -> URL {
        repoFolder(repo).appendingPathComponent(".no_exist").appendingPathComponent(commit)
            .appendingPathComponent(file)
    }

    // MARK: - Reading

    /// The commit `revision` stands for in the cache: the revision itself when it is a commit hash, else the
    /// content of `refs/<revision>`; nil when the cache does not know it.
    public func commit(repo: String, revision: String) -> String? {
        if ModelLocation.isCommitHash(revision) { return revision }
        guard let text = try? String(contentsOf: refFile(repo: repo, revision: revision), encoding: .utf8) else {
            return nil
        }
        let commit = text.trimmingCharacters(in: .whitespacesAndNewlines)
        // The commit names a folder under snapshots/: a ref that could name another folder is not a commit.
        if commit.isEmpty || commit == "." || commit == ".." || commit.contains("/") || commit.contains("\0") {
            return nil
        }
        return commit
    }

    /// Whether the snapshot of `commit` has `file` (a link to an existing blob, or a plain file).
    public func contains(repo: String, commit: String, file: String) -> Bool {
        var isDirectory: ObjCBool = false
        let path = snapshotFolder(repo: repo, commit: commit).appendingPathComponent(file).path
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    /// Whether `file` is recorded as not existing at `commit`.
    public func isMarkedMissing(repo: String, commit: String, file: String) -> Bool {
        FileManager.default.fileExists(atPath: missingMarker(repo: repo, commit: commit, file: file).path)
    }

    /// The size of the file at `url` (following links), nil when absent.
    static func fileSize(_ url: URL) -> Int64? {
        var info = stat()
        guard stat(url.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(info.st_size)
    }

    // MARK: - Writing

    /// Points `refs/<revision>` at `commit` (atomically; nothing when the revision is the commit itself or the ref
    /// already says so).
    func writeRef(repo: String, revision: String, commit: String) throws(HubError) {
        guard revision != commit, !ModelLocation.isCommitHash(revision),
            self.commit(repo: repo, revision: revision) != commit
        else { return }
        try writeAtomically(Data(commit.utf8), to: refFile(repo: repo, revision: revision))
    }

    /// Records that `file` does not exist at `commit` (an empty marker file).
    func markMissing(repo: String, commit: String, file: String) throws(HubError) {
        let marker = missingMarker(repo: repo, commit: commit, file: file)
        guard !FileManager.default.fileExists(atPath: marker.path) else { return }
        try writeAtomically(Data(), to: marker)
    }

    /// Writes `<root>/CACHEDIR.TAG` unless it is there.
    func writeCacheDirTag() {
        let tag = root.appendingPathComponent("CACHEDIR.TAG")
        guard !FileManager.default.fileExists(atPath: tag.path) else { return }
        try? writeAtomically(Data(Self.cacheDirTag.utf8), to: tag)
    }

    /// Links `snapshots/<commit>/<file>` to `blobs/<etag>` with a relative symlink, replacing what was there.
    func link(repo: String, commit: String, file: String, etag: String) throws(HubError) {
        let link = snapshotFolder(repo: repo, commit: commit).appendingPathComponent(file)
        try makeFolder(link.deletingLastPathComponent())
        // From snapshots/<commit>/<dirs…>/ up to the repo folder: one `..` per folder level.
        let depth = 2 + file.split(separator: "/").count - 1
        let target = String(repeating: "../", count: depth) + "blobs/" + etag
        if let existing = try? FileManager.default.destinationOfSymbolicLink(atPath: link.path), existing == target {
            return
        }
        // Link under a temporary name, then rename over: readers never see a missing or half-made entry.
        let temporary = link.deletingLastPathComponent()
            .appendingPathComponent(".\(link.lastPathComponent).\(UUID().uuidString.prefix(8)).tmp")
        guard symlink(target, temporary.path) == 0 else {
            throw HubError(.fileSystem, "cannot create link \(link.path)", underlying: String(cString: strerror(errno)))
        }
        guard rename(temporary.path, link.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw HubError(.fileSystem, "cannot create link \(link.path)", underlying: reason)
        }
    }

    /// Creates `folder` and its parents.
    func makeFolder(_ folder: URL) throws(HubError) {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw HubError(
                .fileSystem, "cannot create folder \(folder.path): check the cache location and its permissions",
                underlying: "\(error.localizedDescription)")
        }
    }

    /// Writes `data` to `file` through a temporary file and a rename.
    func writeAtomically(_ data: Data, to file: URL) throws(HubError) {
        try makeFolder(file.deletingLastPathComponent())
        let temporary = file.deletingLastPathComponent()
            .appendingPathComponent(".\(file.lastPathComponent).\(UUID().uuidString.prefix(8)).tmp")
        do {
            try data.write(to: temporary)
        } catch {
            throw HubError(.fileSystem, "cannot write \(file.path)", underlying: error.localizedDescription)
        }
        guard rename(temporary.path, file.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw HubError(.fileSystem, "cannot write \(file.path)", underlying: reason)
        }
    }
}
