// Downloads from a fake hub on loopback ports (FakeHub): the resulting cache is compared byte for byte with the
// layout huggingface_hub writes, then used offline; redirects (relative, and to another port without the token),
// a transfer cut short and resumed, two downloaders at once, and the failures (404, 401, 403, bad bytes) that
// must leave nothing half-written. The endpoint is injected through HubEnvironment, never the process
// environment. These tests open ports, so they run one at a time in this suite.

import Foundation
import Testing

@testable import ModelHub

@Suite(.serialized, .holdingSerialLock) struct LoopbackHubTests {
    static let token = "hf_loopback_token"

    /// A tiny SmolVLM-like repository: small JSON files, an LFS weights file, a nested LFS file.
    static func tinyModel(id: String = "tiny-org/tiny-model", token: String? = nil, gated: Bool = false)
        -> FakeHub.Repo
    {
        let weights = Data((0..<300_000).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) })
        return FakeHub.Repo(
            id: id,
            files: [
                FakeHub.File(".gitattributes", text: "*.safetensors filter=lfs diff=lfs merge=lfs -text\n"),
                FakeHub.File("README.md", text: "# tiny model\n"),
                FakeHub.File("config.json", text: "{\"model_type\":\"idefics3\",\"vocab_size\":49280}\n"),
                FakeHub.File("tokenizer.json", text: "{\"version\":\"1.0\",\"model\":{\"type\":\"BPE\"}}\n"),
                FakeHub.File("tokenizer_config.json", text: "{\"model_max_length\":8192}\n"),
                FakeHub.File("generation_config.json", text: "{\"eos_token_id\":2}\n"),
                FakeHub.File("model.safetensors", weights, lfs: true),
                FakeHub.File("onnx/vision_encoder.onnx", Data(weights.prefix(5_000).reversed()), lfs: true),
            ],
            refs: ["main", "refs/pr/1"], token: token, gated: gated)
    }

    /// What resolving `ModelFileSet.smolVLM` of `repo` at `main` must leave in the cache, as `treeListing` gives it.
    static func expectedCache(_ repo: FakeHub.Repo, files: [String], absent: [String], ref: String? = "main")
        -> [String]
    {
        let folder = HubCache.folderName(repo: repo.id)
        var entries = [
            "F CACHEDIR.TAG \(HubCache.cacheDirTag.utf8.count) \(sha256Hex(Data(HubCache.cacheDirTag.utf8)))",
            "D .locks", "D .locks/\(folder)",
            "D \(folder)", "D \(folder)/blobs", "D \(folder)/snapshots", "D \(folder)/snapshots/\(repo.commit)",
        ]
        let empty = sha256Hex(Data())
        for path in files {
            let file = repo.file(path)!
            entries.append("F .locks/\(folder)/\(file.etag).lock 0 \(empty)")
            entries.append("F \(folder)/blobs/\(file.etag) \(file.data.count) \(sha256Hex(file.data))")
            let up = String(repeating: "../", count: path.split(separator: "/").count + 1)
            entries.append("L \(folder)/snapshots/\(repo.commit)/\(path) -> \(up)blobs/\(file.etag)")
            entries += folderEntries(path).map {
                $0.replacingOccurrences(of: "D ", with: "D \(folder)/snapshots/\(repo.commit)/")
            }
        }
        if let ref {
            entries.append("D \(folder)/refs")
            entries += folderEntries(ref).map { $0.replacingOccurrences(of: "D ", with: "D \(folder)/refs/") }
            entries.append("F \(folder)/refs/\(ref) 40 \(sha256Hex(Data(repo.commit.utf8)))")
        }
        if !absent.isEmpty {
            entries += ["D \(folder)/.no_exist", "D \(folder)/.no_exist/\(repo.commit)"]
            entries += absent.map { "F \(folder)/.no_exist/\(repo.commit)/\($0) 0 \(empty)" }
        }
        return Array(Set(entries)).sorted()
    }

    static let smolVLMPresent = [
        "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json", "model.safetensors",
    ]
    static let smolVLMAbsent = [
        "preprocessor_config.json", "processor_config.json", "chat_template.json", "chat_template.jinja",
        "special_tokens_map.json",
        "model.safetensors.index.json",
    ]

    @Test func downloadsIntoTheHuggingFaceLayoutThenWorksOffline() async throws {
        let repo = Self.tinyModel(token: Self.token)
        let hub = try FakeHub(
            repos: [repo], options: .init(cutFirstTransfer: true, viaResolveCache: ["tokenizer.json"]))
        defer { hub.stop() }
        let temp = try TemporaryFolder()
        defer { temp.remove() }

        let resolver = ModelResolver(
            environment: hub.environment(cacheRoot: temp.url, token: Self.token), showsProgress: false)
        let folder = try await resolver.resolve(.hub(repo: repo.id, revision: "main"), files: .smolVLM)

        #expect(folder == HubCache(root: temp.url).snapshotFolder(repo: repo.id, commit: repo.commit))
        #expect(
            treeListing(temp.url)
                == Self.expectedCache(repo, files: Self.smolVLMPresent, absent: Self.smolVLMAbsent))
        for path in Self.smolVLMPresent {
            #expect(try Data(contentsOf: folder.appendingPathComponent(path)) == repo.file(path)!.data, "\(path)")
        }
        #expect(
            try Data(contentsOf: temp.url.appendingPathComponent("\(HubCache.folderName(repo: repo.id))/refs/main"))
                == Data(repo.commit.utf8))

        // The token went to the hub on every request, never to the CDN's port.
        #expect(hub.hub.requests.allSatisfy { $0.header("Authorization") == "Bearer \(Self.token)" })
        #expect(!hub.cdn.requests.isEmpty)
        #expect(hub.cdn.requests.allSatisfy { $0.header("Authorization") == nil })
        #expect(hub.hub.requests.allSatisfy { $0.header("Accept-Encoding") == "identity" })
        // The relative redirect was followed, on HEAD and on GET.
        #expect(hub.hub.requests.contains { $0.method == "HEAD" && $0.path.hasPrefix("/api/resolve-cache/") })
        #expect(hub.hub.requests.contains { $0.method == "GET" && $0.path.hasPrefix("/api/resolve-cache/") })
        // The cut-short transfer was resumed from where it broke off.
        let weights = repo.file("model.safetensors")!
        let blobRequests = hub.cdn.requests.filter { $0.path == "/blobs/\(weights.etag)" }
        #expect(blobRequests.map { $0.header("Range") } == [nil, "bytes=\(weights.data.count / 3)-"])

        // Offline, and online with a complete cache: the same folder, no request, no change on disk.
        let listing = treeListing(temp.url)
        let requests = hub.requestCount
        for offline in [true, false] {
            let again = ModelResolver(
                environment: hub.environment(cacheRoot: temp.url, token: Self.token, offline: offline),
                showsProgress: false)
            #expect(try await again.resolve(.hub(repo: repo.id, revision: "main"), files: .smolVLM) == folder)
        }
        #expect(hub.requestCount == requests)
        #expect(treeListing(temp.url) == listing)
    }

    @Test func twoDownloadersAtOnceShareOneTransfer() async throws {
        let repo = Self.tinyModel()
        let hub = try FakeHub(repos: [repo], options: .init(holdTransfersUntilHeads: 2))
        defer { hub.stop() }
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let environment = hub.environment(cacheRoot: temp.url)

        // The CDN holds the weights transfer until both downloaders have looked the file up, so the second one
        // meets the first one's lock while the transfer is under way.
        let folders = try await withThrowingTaskGroup(of: URL.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    try await ModelResolver(environment: environment, showsProgress: false)
                        .resolve(.hub(repo: repo.id, revision: "main"), files: .smolVLM)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(folders.count == 2 && folders[0] == folders[1])
        #expect(
            treeListing(temp.url) == Self.expectedCache(repo, files: Self.smolVLMPresent, absent: Self.smolVLMAbsent))
        let weights = repo.file("model.safetensors")!
        #expect(hub.heads(of: "model.safetensors") == 2)
        #expect(hub.cdn.requests.filter { $0.path == "/blobs/\(weights.etag)" }.count == 1)
    }

    @Test func resumesAPartialFileLeftByAnEarlierRun() async throws {
        let repo = Self.tinyModel()
        let hub = try FakeHub(repos: [repo])
        defer { hub.stop() }
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let weights = repo.file("model.safetensors")!
        let cache = HubCache(root: temp.url)
        try cache.makeFolder(cache.blobFile(repo: repo.id, etag: weights.etag).deletingLastPathComponent())
        try weights.data.prefix(123_456).write(to: cache.incompleteFile(repo: repo.id, etag: weights.etag))

        let folder = try await ModelResolver(environment: hub.environment(cacheRoot: temp.url), showsProgress: false)
            .resolve(.hub(repo: repo.id, revision: "main"), required: ["config.json", "model.safetensors"])
        #expect(try Data(contentsOf: folder.appendingPathComponent("model.safetensors")) == weights.data)
        #expect(hub.cdn.requests.map { $0.header("Range") } == ["bytes=123456-"])
        #expect(
            treeListing(temp.url) == Self.expectedCache(repo, files: ["config.json", "model.safetensors"], absent: []))
    }

    @Test func pullDownloadsTheFileListOfTheRevision() async throws {
        let repo = Self.tinyModel()
        let hub = try FakeHub(repos: [repo])
        defer { hub.stop() }
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let resolver = ModelResolver(environment: hub.environment(cacheRoot: temp.url), showsProgress: false)

        let folder = try await resolver.pull(repo: repo.id, revision: "refs/pr/1", exclude: ["onnx/*", "*.md"])
        let pulled = repo.files.map(\.path).filter { !$0.hasPrefix("onnx/") && !$0.hasSuffix(".md") }
        #expect(treeListing(temp.url) == Self.expectedCache(repo, files: pulled, absent: [], ref: "refs/pr/1"))
        // The revision went into the URL as one encoded segment; the files were fetched at the commit.
        #expect(hub.hub.requests.first?.path == "/api/models/\(repo.id)/revision/refs%2Fpr%2F1")
        #expect(hub.hub.requests.dropFirst().allSatisfy { $0.path.contains("/resolve/\(repo.commit)/") })

        let all = try await resolver.pull(repo: repo.id, revision: repo.commit)
        #expect(all == folder)
        let link = try FileManager.default.destinationOfSymbolicLink(
            atPath: folder.appendingPathComponent("onnx/vision_encoder.onnx").path)
        #expect(link == "../../../blobs/\(repo.file("onnx/vision_encoder.onnx")!.etag)")
        // Blobs already present were not fetched again.
        #expect(hub.cdn.requests.filter { $0.path.hasSuffix(repo.file("model.safetensors")!.etag) }.count == 1)
    }

    @Test func shardedWeightsComeFromTheIndexAtTheSameCommit() async throws {
        let index = """
            {"metadata":{"total_size":2000},"weight_map":{"a.weight":"model-00001-of-00002.safetensors",
            "b.weight":"model-00002-of-00002.safetensors"}}
            """
        let repo = FakeHub.Repo(
            id: "tiny-org/sharded",
            files: [
                FakeHub.File("config.json", text: "{}"), FakeHub.File("tokenizer.json", text: "{}"),
                FakeHub.File("model.safetensors.index.json", text: index),
                FakeHub.File("model-00001-of-00002.safetensors", Data(repeating: 1, count: 1000), lfs: true),
                FakeHub.File("model-00002-of-00002.safetensors", Data(repeating: 2, count: 1000), lfs: true),
            ])
        let hub = try FakeHub(repos: [repo])
        defer { hub.stop() }
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let folder = try await ModelResolver(environment: hub.environment(cacheRoot: temp.url), showsProgress: false)
            .resolve(.hub(repo: repo.id, revision: "main"), files: .smolVLM)
        for shard in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
            #expect(try Data(contentsOf: folder.appendingPathComponent(shard)) == repo.file(shard)!.data)
        }
        #expect(
            hub.hub.requests.filter { $0.path.contains("-of-00002") }
                .allSatisfy { $0.path.contains("/resolve/\(repo.commit)/") })
    }

    @Test func cancellingEndsADownloadInFlight() async throws {
        let repo = Self.tinyModel()
        let hub = try FakeHub(repos: [repo], options: .init(holdTransfers: true))
        defer { hub.stop() }
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let resolver = ModelResolver(environment: hub.environment(cacheRoot: temp.url), showsProgress: false)
        let download = Task {
            try await resolver.resolve(.hub(repo: repo.id, revision: "main"), required: ["model.safetensors"])
        }
        // Wait until the CDN holds the transfer, then cancel: the download must end while the CDN still holds it.
        // (Cancelling while bytes are flowing is what URLSession on Linux gets wrong, see HTTPTransport; that case
        // needs a transfer slower than its consumer, which a test cannot arrange without timing.)
        for _ in 0..<1000 where !hub.cdn.requests.contains(where: { $0.path.hasPrefix("/blobs/") }) {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        download.cancel()
        let result = await download.result
        hub.configure { $0.holdTransfers = false }
        #expect(throws: CancellationError.self) { try result.get() }
        #expect(!treeListing(temp.url).contains { $0.contains("snapshots/\(repo.commit)/model.safetensors") })
    }

    // MARK: - Failures leave nothing behind

    @Test func unknownRepositoryNamesItAndWritesNothing() async throws {
        let hub = try FakeHub(repos: [Self.tinyModel()])
        defer { hub.stop() }
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let resolver = ModelResolver(environment: hub.environment(cacheRoot: temp.url), showsProgress: false)
        let error = await expectHubError(.repositoryNotFound) {
            _ = try await resolver.resolve(.hub(repo: "tiny-org/nope", revision: "main"), files: .smolVLM)
        }
        #expect(error?.message.contains("'tiny-org/nope'") == true)
        #expect(error?.message.contains("HF_TOKEN") == true)
        _ = await expectHubError(.repositoryNotFound) { _ = try await resolver.pull(repo: "tiny-org/nope") }
        #expect(treeListing(temp.url).isEmpty)
    }

    @Test func missingFileOrRevisionNamesItAndWritesNothing() async throws {
        let repo = Self.tinyModel()
        let hub = try FakeHub(repos: [repo])
        defer { hub.stop() }
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let resolver = ModelResolver(environment: hub.environment(cacheRoot: temp.url), showsProgress: false)
        let error = await expectHubError(.fileNotFound) {
            _ = try await resolver.resolve(
                .hub(repo: repo.id, revision: "main"), required: ["config.json", "weights.bin", "model.safetensors"])
        }
        #expect(error?.message.contains("'weights.bin'") == true)
        #expect(error?.message.contains("'\(repo.id)'") == true)
        let revision = await expectHubError(.revisionNotFound) {
            _ = try await resolver.resolve(.hub(repo: repo.id, revision: "v9"), required: ["config.json"])
        }
        #expect(revision?.message.contains("'v9'") == true)
        #expect(treeListing(temp.url).isEmpty)
    }

    @Test func refusedTokensSayWhatToDoAndWriteNothing() async throws {
        let hub = try FakeHub(repos: [
            Self.tinyModel(id: "tiny-org/private", token: Self.token),
            Self.tinyModel(id: "tiny-org/gated", gated: true),
        ])
        defer { hub.stop() }
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        func resolver(_ token: String?) -> ModelResolver {
            ModelResolver(environment: hub.environment(cacheRoot: temp.url, token: token), showsProgress: false)
        }
        let noToken = await expectHubError(.repositoryNotFound) {
            _ = try await resolver(nil).resolve(.hub(repo: "tiny-org/private", revision: "main"), files: .smolVLM)
        }
        #expect(noToken?.message.contains("set HF_TOKEN") == true)
        let badToken = await expectHubError(.accessDenied) {
            _ = try await resolver("hf_wrong").resolve(
                .hub(repo: "tiny-org/private", revision: "main"), files: .smolVLM)
        }
        #expect(badToken?.message.contains("refused the token in HF_TOKEN") == true)
        let gated = await expectHubError(.accessDenied) {
            _ = try await resolver(nil).resolve(.hub(repo: "tiny-org/gated", revision: "main"), files: .smolVLM)
        }
        #expect(gated?.message.contains("gated") == true)
        #expect(gated?.message.contains("\(hub.hub.baseURL.absoluteString)/tiny-org/gated") == true)
        #expect(treeListing(temp.url).isEmpty)
    }

    @Test func corruptBytesAreRejectedAndDeleted() async throws {
        let repo = Self.tinyModel()
        let weights = repo.file("model.safetensors")!
        let hub = try FakeHub(repos: [repo], options: .init(corrupt: [weights.etag]))
        defer { hub.stop() }
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let error = await expectHubError(.corruptDownload) {
            _ = try await ModelResolver(environment: hub.environment(cacheRoot: temp.url), showsProgress: false)
                .resolve(.hub(repo: repo.id, revision: "main"), required: ["model.safetensors"])
        }
        #expect(error?.message.contains("SHA-256") == true)
        #expect(!treeListing(temp.url).contains { $0.contains("/blobs/") })
    }

    @Test func offlineWithoutTheModelSaysHowToGetIt() async throws {
        let repo = Self.tinyModel()
        let hub = try FakeHub(repos: [repo])
        defer { hub.stop() }
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let offline = ModelResolver(
            environment: hub.environment(cacheRoot: temp.url, offline: true), showsProgress: false)
        let error = await expectHubError(.notCached) {
            _ = try await offline.resolve(.hub(repo: repo.id, revision: "main"), files: .smolVLM)
        }
        #expect(error?.message.contains("vigil models pull \(repo.id)") == true)
        #expect(error?.message.contains("HF_HUB_OFFLINE") == true)
        _ = await expectHubError(.notCached) { _ = try await offline.pull(repo: repo.id) }
        #expect(hub.requestCount == 0)
        #expect(treeListing(temp.url).isEmpty)
    }

    @Test func unreachableHubFallsBackToACompleteSnapshot() async throws {
        let repo = Self.tinyModel()
        let hub = try FakeHub(repos: [repo])
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let environment = hub.environment(cacheRoot: temp.url)
        let folder = try await ModelResolver(environment: environment, showsProgress: false)
            .resolve(.hub(repo: repo.id, revision: "main"), required: ["config.json"])
        hub.stop()
        // Optional files not yet checked need the hub; when it cannot be reached the cached snapshot is used.
        let again = try await ModelResolver(environment: environment, showsProgress: false)
            .resolve(.hub(repo: repo.id, revision: "main"), required: ["config.json"], optional: ["tokenizer.json"])
        #expect(again == folder)
        // A required file that is missing cannot be made up for.
        let error = await expectHubError(.network) {
            _ = try await ModelResolver(environment: environment, showsProgress: false)
                .resolve(.hub(repo: repo.id, revision: "main"), required: ["tokenizer.json"])
        }
        #expect(error?.message.contains(repo.id) == true)
    }
}

extension LoopbackHubTests {
    /// `vigil` next to the test bundle.
    static var vigilBinary: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("vigil").path
    }

    @Test func twoVigilProcessesShareOneDownloadThenWorkOffline() throws {
        let repo = Self.tinyModel()
        let hub = try FakeHub(repos: [repo], options: .init(holdTransfersUntilHeads: 2))
        defer { hub.stop() }
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        func vigil(_ arguments: [String], offline: Bool = false) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.vigilBinary)
            process.arguments = arguments
            var environment = ProcessInfo.processInfo.environment
            environment["HF_ENDPOINT"] = hub.hub.baseURL.absoluteString
            environment["HF_HUB_CACHE"] = temp.url.path
            environment["HF_HUB_OFFLINE"] = offline ? "1" : nil
            environment.removeValue(forKey: "HF_TOKEN")
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        // Two processes pull at once; the CDN holds the weights until both have looked them up, so one waits on
        // the other's lock while the transfer runs.
        let first = try vigil(["models", "pull", repo.id])
        let second = try vigil(["models", "pull", repo.id])
        first.waitUntilExit()
        second.waitUntilExit()
        #expect(first.terminationStatus == 0 && second.terminationStatus == 0)
        let weights = repo.file("model.safetensors")!
        #expect(hub.cdn.requests.filter { $0.path == "/blobs/\(weights.etag)" }.count == 1)
        let blob = temp.url.appendingPathComponent("models--\(repo.id.replacingOccurrences(of: "/", with: "--"))/blobs/\(weights.etag)")
        #expect(try Data(contentsOf: blob) == weights.data)
        // Offline afterwards: the cache alone resolves the model.
        let before = hub.requestCount
        let offline = try vigil(["models", "path", repo.id], offline: true)
        offline.waitUntilExit()
        #expect(offline.terminationStatus == 0)
        #expect(hub.requestCount == before)
    }
}
