// The cache layout without a network: a cache laid out by hand the way huggingface_hub writes it is read as is
// (refs, commit-hash revisions, nested files, .no_exist), listed with sizes, and used offline.

import Foundation
import Testing

@testable import ModelHub

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@Suite struct HubCacheTests {
    static let repo = "tiny-org/tiny-model"
    static let commit = String(repeating: "c0ffee", count: 7).prefix(40).description

    /// Writes what `huggingface_hub.snapshot_download` leaves behind for a tiny model.
    static func makePythonCache(at root: URL) throws -> HubCache {
        let cache = HubCache(root: root)
        let folder = cache.repoFolder(repo)
        let manager = FileManager.default
        for sub in ["blobs", "refs", "snapshots/\(commit)/sub"] {
            try manager.createDirectory(at: folder.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try Data(commit.utf8).write(to: folder.appendingPathComponent("refs/main"))
        let files: [(String, String, String)] = [
            ("config.json", "1111111111111111111111111111111111111111", "{\"model_type\":\"idefics3\"}"),
            ("tokenizer.json", "2222222222222222222222222222222222222222", "{\"version\":\"1.0\"}"),
            ("sub/extra.txt", "3333333333333333333333333333333333333333", "extra"),
        ]
        for (path, etag, text) in files {
            try Data(text.utf8).write(to: folder.appendingPathComponent("blobs/\(etag)"))
            let depth = path.split(separator: "/").count + 1
            try manager.createSymbolicLink(
                atPath: folder.appendingPathComponent("snapshots/\(commit)/\(path)").path,
                withDestinationPath: String(repeating: "../", count: depth) + "blobs/\(etag)")
        }
        try Data(repeating: 7, count: 100).write(to: folder.appendingPathComponent("blobs/abc.incomplete"))
        return cache
    }

    @Test func refsAndCommitHashRevisionsResolveToSnapshots() throws {
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let cache = try Self.makePythonCache(at: temp.url)
        #expect(cache.commit(repo: Self.repo, revision: "main") == Self.commit)
        #expect(cache.commit(repo: Self.repo, revision: Self.commit) == Self.commit)
        #expect(cache.commit(repo: Self.repo, revision: "v2") == nil)
        #expect(cache.contains(repo: Self.repo, commit: Self.commit, file: "sub/extra.txt"))
        #expect(!cache.contains(repo: Self.repo, commit: Self.commit, file: "model.safetensors"))
        let resolver = ModelResolver(
            environment: HubEnvironment(offline: true, cacheRoot: temp.url), showsProgress: false)
        #expect(resolver.cachedSnapshot(repo: Self.repo, revision: "main")?.lastPathComponent == Self.commit)
        #expect(resolver.cachedSnapshot(repo: "tiny-org/other", revision: "main") == nil)
    }

    @Test func listsModelsWithTheirSizes() throws {
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let cache = try Self.makePythonCache(at: temp.url)
        try Data(HubCache.cacheDirTag.utf8).write(to: temp.url.appendingPathComponent("CACHEDIR.TAG"))
        let models = try cache.models()
        #expect(models.count == 1)
        let model = try #require(models.first)
        #expect(model.repo == Self.repo)
        #expect(
            model.sizeBytes
                == Int64("{\"model_type\":\"idefics3\"}".utf8.count + "{\"version\":\"1.0\"}".utf8.count + 5))
        #expect(model.incompleteBytes == 100)
        #expect(model.refs.map(\.name) == ["main"])
        #expect(model.refs.map(\.commit) == [Self.commit])
        #expect(model.snapshots == [Self.commit])
        #expect(try HubCache(root: temp.url.appendingPathComponent("absent")).models().isEmpty)
    }

    @Test func offlineResolutionUsesAPythonFilledCacheAsItIs() async throws {
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        _ = try Self.makePythonCache(at: temp.url)
        let before = treeListing(temp.url)
        let resolver = ModelResolver(
            environment: HubEnvironment(
                endpoint: URL(string: "http://127.0.0.1:9")!, offline: true, cacheRoot: temp.url),
            showsProgress: false)
        let folder = try await resolver.resolve(
            .hub(repo: Self.repo, revision: "main"), required: ["config.json", "tokenizer.json"],
            optional: ["generation_config.json"])
        #expect(folder.lastPathComponent == Self.commit)
        #expect(
            try String(contentsOf: folder.appendingPathComponent("config.json"), encoding: .utf8).contains("idefics3"))
        #expect(treeListing(temp.url) == before, "offline resolution must not write to the cache")

        let error = await expectHubError(.notCached) {
            _ = try await resolver.resolve(.hub(repo: Self.repo, revision: "main"), required: ["model.safetensors"])
        }
        #expect(error?.message.contains("'model.safetensors'") == true)
        #expect(error?.message.contains("vigil models pull tiny-org/tiny-model") == true)
    }

    @Test func linksAreRelativeAndReplaceable() throws {
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let cache = HubCache(root: temp.url)
        try cache.link(repo: Self.repo, commit: Self.commit, file: "config.json", etag: "e1")
        try cache.link(repo: Self.repo, commit: Self.commit, file: "onnx/model.onnx", etag: "e2")
        try cache.link(repo: Self.repo, commit: Self.commit, file: "config.json", etag: "e3")
        let snapshot = cache.snapshotFolder(repo: Self.repo, commit: Self.commit)
        let manager = FileManager.default
        #expect(
            try manager.destinationOfSymbolicLink(atPath: snapshot.appendingPathComponent("config.json").path)
                == "../../blobs/e3")
        #expect(
            try manager.destinationOfSymbolicLink(atPath: snapshot.appendingPathComponent("onnx/model.onnx").path)
                == "../../../blobs/e2")
        #expect(try manager.contentsOfDirectory(atPath: snapshot.path).sorted() == ["config.json", "onnx"])
    }

    @Test func refsAreWrittenWithoutNewlineAndNotForCommitHashes() throws {
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let cache = HubCache(root: temp.url)
        try cache.writeRef(repo: Self.repo, revision: "refs/pr/1", commit: Self.commit)
        try cache.writeRef(repo: Self.repo, revision: Self.commit, commit: Self.commit)
        #expect(try Data(contentsOf: cache.refFile(repo: Self.repo, revision: "refs/pr/1")) == Data(Self.commit.utf8))
        #expect(treeListing(cache.repoFolder(Self.repo)).filter { $0.hasPrefix("F") }.count == 1)
    }

    @Test func localFoldersAreCheckedForRequiredFiles() async throws {
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        try Data("{}".utf8).write(to: temp.url.appendingPathComponent("config.json"))
        let resolver = ModelResolver(environment: HubEnvironment(cacheRoot: temp.url), showsProgress: false)
        #expect(try await resolver.resolve(.folder(temp.url), required: ["config.json"]) == temp.url)
        let error = await expectHubError(.missingLocalFile) {
            _ = try await resolver.resolve(.folder(temp.url), required: ["config.json", "tokenizer.json"])
        }
        #expect(error?.message.contains("tokenizer.json") == true)
        _ = await expectHubError(.invalidInput) {
            _ = try await resolver.resolve(.folder(temp.url), required: ["../config.json"])
        }
    }

    @Test func shardedWeightsInALocalFolderComeFromTheIndex() async throws {
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let index = """
            {"metadata":{"total_size":8},"weight_map":{"a":"model-00001-of-00002.safetensors",
            "b":"model-00002-of-00002.safetensors","c":"model-00001-of-00002.safetensors"}}
            """
        for (name, text) in [
            ("config.json", "{}"), ("tokenizer.json", "{}"), ("model.safetensors.index.json", index),
            ("model-00001-of-00002.safetensors", "x"),
        ] {
            try Data(text.utf8).write(to: temp.url.appendingPathComponent(name))
        }
        let resolver = ModelResolver(environment: HubEnvironment(cacheRoot: temp.url), showsProgress: false)
        let error = await expectHubError(.missingLocalFile) {
            _ = try await resolver.resolve(.folder(temp.url), files: .smolVLM)
        }
        #expect(error?.message.contains("model-00002-of-00002.safetensors") == true)
        try Data("y".utf8).write(to: temp.url.appendingPathComponent("model-00002-of-00002.safetensors"))
        #expect(try await resolver.resolve(.folder(temp.url), files: .smolVLM) == temp.url)
        #expect(
            try ModelResolver.shards(inIndex: temp.url.appendingPathComponent("model.safetensors.index.json"))
                == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"])
    }
}

@Suite struct HubProtocolTests {
    @Test func etagsAreNormalizedLikeHuggingFaceHub() {
        #expect(HubClient.normalize(etag: "\"abc\"") == "abc")
        #expect(HubClient.normalize(etag: "W/\"abc\"") == "abc")
        #expect(HubClient.normalize(etag: "abc") == "abc")
        #expect(HubClient.isSHA256(String(repeating: "ab", count: 32)))
        #expect(!HubClient.isSHA256(String(repeating: "ab", count: 20)))
        #expect(!HubClient.isUsableBlobName("../x"))
    }

    @Test func originsAndRelativeRedirects() throws {
        let base = URL(string: "https://huggingface.co/org/name/resolve/main/config.json")!
        #expect(HubClient.origin(base) == HubClient.origin(URL(string: "https://HuggingFace.co:443/x")!))
        #expect(HubClient.origin(base) != HubClient.origin(URL(string: "https://cdn-lfs.huggingface.co/x")!))
        #expect(
            HubClient.origin(URL(string: "http://127.0.0.1:1000")!)
                != HubClient.origin(URL(string: "http://127.0.0.1:1001")!))
        let response = try #require(
            HTTPURLResponse(
                url: base, statusCode: 307, httpVersion: "HTTP/1.1", headerFields: ["Location": "/api/x?y=1"]))
        #expect(
            HubClient.redirectTarget(of: response, from: base)?.absoluteString == "https://huggingface.co/api/x?y=1")
    }

    @Test func contentRangeStart() throws {
        let url = URL(string: "http://h/x")!
        let response = try #require(
            HTTPURLResponse(
                url: url, statusCode: 206, httpVersion: "HTTP/1.1",
                headerFields: ["Content-Range": "bytes 500-999/1000"]))
        #expect(BlobDownloader.rangeStart(response) == 500)
    }

    @Test func byteCounts() {
        #expect(ByteFormat.string(999) == "999 B")
        #expect(ByteFormat.string(1_000) == "1.00 kB")
        #expect(ByteFormat.string(12_345_678) == "12.3 MB")
        #expect(ByteFormat.string(513_000_000) == "513 MB")
        #expect(ByteFormat.duration(75) == "1:15")
        #expect(ByteFormat.duration(3_725) == "1:02:05")
    }
}
