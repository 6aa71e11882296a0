// Cache metadata other tools (or other people) wrote is not trusted: a ref that would name a folder outside
// snapshots/ is no commit, and shard names that climb out of the repository are refused. The hub-cache fuzz target
// found the first (Tests/Fixtures/fuzz/hub-cache/crashes/ref-dot-dot).

import Foundation
import Testing

@testable import ModelHub

@Suite struct HostileCacheTests {
    @Test("a ref holding '.', '..' or a path is not a commit")
    func refsThatNameOtherFolders() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-refs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let cache = HubCache(root: root)
        let ref = cache.refFile(repo: "org/model", revision: "main")
        try FileManager.default.createDirectory(at: ref.deletingLastPathComponent(), withIntermediateDirectories: true)
        for text in ["..", ".", "../x", "a\0b", " \n"] {
            try Data(text.utf8).write(to: ref)
            #expect(cache.commit(repo: "org/model", revision: "main") == nil, "\(text.debugDescription)")
        }
        try Data("0123456789abcdef0123456789abcdef01234567\n".utf8).write(to: ref)
        #expect(cache.commit(repo: "org/model", revision: "main") == "0123456789abcdef0123456789abcdef01234567")
    }

    @Test("an index whose shards climb out of the repository is refused")
    func shardTraversal() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-index-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let index = folder.appendingPathComponent("model.safetensors.index.json")
        try Data(#"{"weight_map": {"w": "../../etc/passwd"}}"#.utf8).write(to: index)
        #expect(throws: HubError.self) { try ModelResolver.shards(inIndex: index) }
    }
}
