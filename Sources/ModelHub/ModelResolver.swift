// Turns a `ModelLocation` into a folder holding the files a command needs.
//
// - A local folder: checked to have the required files, used as it is.
// - A local .gguf file: checked to exist; its own URL is returned.
// - A hub id: looked up in the cache first. When the revision is known there (a ref, or a commit hash with a
//   snapshot) and the snapshot has every required file, and every optional one is either there or recorded as
//   absent (`.no_exist`), the snapshot is used without any network access. So a cache filled by the Python tools
//   serves Vigil as it is. (A branch is therefore not re-checked for new commits once cached; `vigil models
//   pull` does that.) Otherwise, unless offline, every file is looked up with a HEAD — all of them before anything
//   is written, so a 404 or 401 leaves the cache untouched — then the missing blobs are downloaded (BlobDownloader),
//   linked from the snapshot, the ref is written, and optional files the hub does not have are recorded in
//   `.no_exist`. When only optional files were in question and the network fails, the cached snapshot is used.
//
// Offline (`--offline`, HF_HUB_OFFLINE=1), a missing required file is an error that names it and says how to get
// it; missing optional files are skipped.

import Foundation
import Glibc
import VigilCore

/// Files a model needs: those it cannot do without and those used when present.
public struct ModelFileSet: Sendable, Equatable {
    /// Files that must exist (a 404 is an error).
    public var required: [String]
    /// Files used when present (a 404 is fine).
    public var optional: [String]
    /// Whether the model's safetensors weights are needed too: `model.safetensors`, or else
    /// `model.safetensors.index.json` and every shard its `weight_map` names.
    public var includesSafetensorsWeights: Bool

    /// A set of `required` and `optional` files, plus the safetensors weights when `includesSafetensorsWeights`.
    public init(required: [String], optional: [String] = [], includesSafetensorsWeights: Bool = false) {
        self.required = required
        self.optional = optional
        self.includesSafetensorsWeights = includesSafetensorsWeights
    }

    /// What a SmolVLM (Idefics3) checkpoint needs: config, weights and tokenizer, plus the processor, generation
    /// and chat-template files when the repository has them.
    public static let smolVLM = ModelFileSet(
        required: ["config.json", "tokenizer.json"],
        optional: [
            "tokenizer_config.json", "generation_config.json", "preprocessor_config.json", "processor_config.json",
            "chat_template.json", "chat_template.jinja", "special_tokens_map.json",
        ],
        includesSafetensorsWeights: true)

    /// The single-file weights.
    public static let safetensorsFile = "model.safetensors"
    /// The index of sharded weights.
    public static let safetensorsIndex = "model.safetensors.index.json"
}

/// Finds or downloads the files of a model.
public struct ModelResolver: Sendable {
    /// Endpoint, token, offline switch and cache root.
    public var environment: HubEnvironment
    /// Whether downloads draw a progress bar on stderr.
    public var showsProgress: Bool
    /// How many HEAD requests run at once when looking files up.
    public var lookupConcurrency = 8

    /// A resolver for `environment`; progress bars when stderr is a terminal, unless told otherwise.
    public init(environment: HubEnvironment, showsProgress: Bool = Console.stderrIsTerminal) {
        self.environment = environment
        self.showsProgress = showsProgress
    }

    /// The cache this resolver reads and fills.
    public var cache: HubCache { HubCache(root: environment.cacheRoot) }

    // MARK: - Resolving

    /// Returns the folder holding the `required` files (and those of `optional` that exist): the folder itself,
    /// or the hub model's snapshot folder, downloading what is missing when allowed. For a `.gguf` file, returns
    /// the file. Throws HubError (or CancellationError).
    public func resolve(_ location: ModelLocation, required: [String], optional: [String] = []) async throws -> URL {
        let optional = optional.filter { !required.contains($0) }
        for file in required + optional { try Self.validate(file: file) }
        switch location {
        case .folder(let folder):
            for file in required where !FileManager.default.fileExists(atPath: folder.appendingPathComponent(file).path)
            {
                throw HubError(
                    .missingLocalFile,
                    "model folder \(folder.path) has no \(file): check the folder, or give a hub id instead")
            }
            return folder
        case .ggufFile(let file):
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw HubError(.missingLocalFile, "model file \(file.path) does not exist: check the path")
            }
            return file
        case .hub(let repo, let revision):
            return try await resolveHub(repo: repo, revision: revision, required: required, optional: optional)
        }
    }

    /// Resolves `files`, including the safetensors weights when the set asks for them (the single file, or the
    /// index and its shards).
    public func resolve(_ location: ModelLocation, files: ModelFileSet) async throws -> URL {
        guard files.includesSafetensorsWeights else {
            return try await resolve(location, required: files.required, optional: files.optional)
        }
        if case .ggufFile = location {
            return try await resolve(location, required: [], optional: [])
        }
        let single = ModelFileSet.safetensorsFile
        let index = ModelFileSet.safetensorsIndex
        let folder = try await resolve(location, required: files.required, optional: files.optional + [single, index])
        if FileManager.default.fileExists(atPath: folder.appendingPathComponent(single).path) { return folder }
        guard FileManager.default.fileExists(atPath: folder.appendingPathComponent(index).path) else {
            throw HubError(
                .fileNotFound,
                "\(describe(location)) has neither \(single) nor \(index): it has no safetensors weights (a GGUF "
                    + "model is given as a .gguf file)")
        }
        let shards = try Self.shards(inIndex: folder.appendingPathComponent(index))
        // Pin the second pass to the snapshot just resolved, so the shards come from the same commit.
        var pinned = location
        if case .hub(let repo, _) = location { pinned = .hub(repo: repo, revision: folder.lastPathComponent) }
        return try await resolve(pinned, required: files.required + [index] + shards, optional: files.optional)
    }

    /// The snapshot folder of a hub model in the cache, without any network access; nil when the revision is
    /// not cached.
    public func cachedSnapshot(repo: String, revision: String) -> URL? {
        guard let commit = cache.commit(repo: repo, revision: revision) else { return nil }
        let folder = cache.snapshotFolder(repo: repo, commit: commit)
        return FileManager.default.fileExists(atPath: folder.path) ? folder : nil
    }

    /// Downloads every file of `repo` at `revision` (the hub's file list), or those matching `include` and not
    /// `exclude` (fnmatch patterns, as `hf download --include`), and returns the snapshot folder.
    public func pull(
        repo: String, revision: String = ModelLocation.defaultRevision, include: [String] = [], exclude: [String] = []
    ) async throws -> URL {
        guard ModelLocation.isRepoID(repo) else {
            throw HubError(.invalidInput, "'\(repo)' is not a hub id: give it as org/name")
        }
        try ModelLocation.validate(revision: revision)
        guard !environment.offline else {
            throw HubError(
                .notCached,
                "cannot pull '\(repo)': downloads are off (--offline or HF_HUB_OFFLINE=1); drop --offline and unset "
                    + "HF_HUB_OFFLINE to download")
        }
        let transport = HTTPTransport()
        defer { transport.invalidate() }
        let client = HubClient(environment: environment, transport: transport)
        let (commit, all) = try await client.modelInfo(repo: repo, revision: revision)
        let files = all.filter { file in
            (include.isEmpty || include.contains { Self.matches($0, file) })
                && !exclude.contains { Self.matches($0, file) }
        }
        guard !files.isEmpty else {
            throw HubError(
                .fileNotFound,
                "no file of '\(repo)' at revision '\(revision)' matches the --include/--exclude patterns "
                    + "(it has \(all.count) files)")
        }
        for file in files { try Self.validate(file: file) }
        return try await download(
            repo: repo, revision: revision, commit: commit, required: files, optional: [], client: client)
    }

    // MARK: - Hub models

    private func resolveHub(repo: String, revision: String, required: [String], optional: [String]) async throws
        -> URL
    {
        let cache = self.cache
        if let commit = cache.commit(repo: repo, revision: revision) {
            let snapshot = cache.snapshotFolder(repo: repo, commit: commit)
            let missing = required.filter { !cache.contains(repo: repo, commit: commit, file: $0) }
            let unknown = optional.filter {
                !cache.contains(repo: repo, commit: commit, file: $0)
                    && !cache.isMarkedMissing(repo: repo, commit: commit, file: $0)
            }
            if missing.isEmpty && (unknown.isEmpty || environment.offline) { return snapshot }
            if environment.offline {
                throw notCached(repo: repo, revision: revision, file: missing[0], snapshot: snapshot)
            }
            do {
                return try await download(repo: repo, revision: revision, required: required, optional: optional)
            } catch let error as HubError where error.code == .network && missing.isEmpty {
                Log.warning(
                    "could not check the hub for optional files of '\(repo)' (\(error.underlying ?? error.message)); "
                        + "using the cached snapshot \(snapshot.path)")
                return snapshot
            }
        }
        if environment.offline {
            throw HubError(
                .notCached,
                "model '\(repo)' (revision '\(revision)') is not in the cache at \(cache.root.path) and downloads are "
                    + "off (--offline or HF_HUB_OFFLINE=1): download it first with `vigil models pull \(repo)"
                    + (revision == ModelLocation.defaultRevision ? "" : " --revision \(revision)")
                    + "` where the network is available, or point --cache-dir/HF_HUB_CACHE at a cache that has it")
        }
        return try await download(repo: repo, revision: revision, required: required, optional: optional)
    }

    private func notCached(repo: String, revision: String, file: String, snapshot: URL) -> HubError {
        HubError(
            .notCached,
            "file '\(file)' of model '\(repo)' (revision '\(revision)') is not in the cache (\(snapshot.path)) and "
                + "downloads are off (--offline or HF_HUB_OFFLINE=1): fetch it with `vigil models pull \(repo)"
                + (revision == ModelLocation.defaultRevision ? "" : " --revision \(revision)")
                + "` where the network is available")
    }

    /// Looks every file up, then downloads and links what the cache lacks. Nothing is written before all lookups
    /// succeeded. `commit`, when known (from the model API), pins every request to it.
    private func download(
        repo: String, revision: String, commit pinned: String? = nil, required: [String], optional: [String],
        client existing: HubClient? = nil
    ) async throws -> URL {
        let transport = existing == nil ? HTTPTransport() : nil
        defer { transport?.invalidate() }
        let client = existing ?? HubClient(environment: environment, transport: transport!)

        // 1. Look up (HEAD) every file. The first answers fix the commit; later requests name it, so all files
        //    come from one commit even if the branch moves meanwhile.
        let wanted = required.map { ($0, true) } + optional.map { ($0, false) }
        var lookups = [FileLookup?](repeating: nil, count: wanted.count)
        var commit = pinned
        var next = 0
        while next < wanted.count && commit == nil {
            let lookup = try await client.lookUp(repo: repo, revision: revision, file: wanted[next].0)
            switch lookup {
            case .found(let remote): commit = remote.commit
            case .missing(let known): commit = known
            }
            lookups[next] = lookup
            next += 1
        }
        if next < wanted.count, let commit {
            let rest = Array(next..<wanted.count)
            let results = try await lookUpConcurrently(rest.map { wanted[$0].0 }, commit: commit, repo: repo, client)
            for (slot, lookup) in zip(rest, results) { lookups[slot] = lookup }
        }
        var found: [RemoteFile] = []
        var absent: [String] = []
        for ((file, isRequired), lookup) in zip(wanted, lookups) {
            switch lookup {
            case .found(let remote)?:
                found.append(remote)
            case .missing?, nil:
                if isRequired {
                    throw HubError(
                        .fileNotFound,
                        "file '\(file)' was not found in '\(repo)' at revision '\(revision)': check the model name, "
                            + "or whether the repository has this file")
                }
                absent.append(file)
            }
        }
        guard let commit else {
            throw HubError(
                .fileNotFound,
                "none of \(wanted.map(\.0).joined(separator: ", ")) was found in '\(repo)' at revision '\(revision)'")
        }

        // 2. Download the missing blobs and link them from the snapshot.
        let cache = self.cache
        cache.writeCacheDirTag()
        let downloader = BlobDownloader(client: client, cache: cache, showsProgress: showsProgress)
        for remote in found {
            try await downloader.fetch(repo: repo, remote: remote)
            try cache.link(repo: repo, commit: commit, file: remote.file, etag: remote.etag)
            try cache.writeRef(repo: repo, revision: revision, commit: commit)
        }
        for file in absent {
            try cache.markMissing(repo: repo, commit: commit, file: file)
        }
        try cache.writeRef(repo: repo, revision: revision, commit: commit)
        let snapshot = cache.snapshotFolder(repo: repo, commit: commit)
        try cache.makeFolder(snapshot)
        return snapshot
    }

    /// HEADs `files` at `commit`, `lookupConcurrency` at a time; results in the order of `files`.
    private func lookUpConcurrently(_ files: [String], commit: String, repo: String, _ client: HubClient)
        async throws -> [FileLookup]
    {
        try await withThrowingTaskGroup(of: (Int, FileLookup).self) { group in
            var results = [FileLookup?](repeating: nil, count: files.count)
            var started = 0
            func startNext() {
                let slot = started
                started += 1
                group.addTask { (slot, try await client.lookUp(repo: repo, revision: commit, file: files[slot])) }
            }
            while started < min(max(1, lookupConcurrency), files.count) { startNext() }
            while let (slot, lookup) = try await group.next() {
                results[slot] = lookup
                if started < files.count { startNext() }
            }
            return results.map { $0! }
        }
    }

    // MARK: - Helpers

    /// Throws unless `file` is a relative path inside a repository (no `..`, no leading `/`).
    public static func validate(file: String) throws(HubError) {
        let parts = file.split(separator: "/", omittingEmptySubsequences: false)
        if file.isEmpty || parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) || file.contains("\0") {
            throw HubError(.invalidInput, "'\(file)' is not a file name inside a model repository")
        }
    }

    /// The shard files named by a safetensors index's `weight_map`, sorted and without repeats.
    public static func shards(inIndex index: URL) throws(HubError) -> [String] {
        struct Index: Decodable { var weight_map: [String: String] }
        let shards: [String]
        do {
            let data = try Data(contentsOf: index)
            shards = Array(Set(try JSONDecoder().decode(Index.self, from: data).weight_map.values)).sorted()
        } catch {
            throw HubError(
                .badResponse, "\(index.path) is not a safetensors index (a JSON object with a 'weight_map')",
                underlying: "\(error)")
        }
        for shard in shards { try validate(file: shard) }
        return shards
    }

    /// Whether `name` matches the fnmatch `pattern` (`*` also crosses `/`, as Python's fnmatch).
    static func matches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }

    private func describe(_ location: ModelLocation) -> String {
        switch location {
        case .folder(let url), .ggufFile(let url): return "model folder \(url.path)"
        case .hub(let repo, let revision): return "'\(repo)' at revision '\(revision)'"
        }
    }
}
