// The HNSW global-key index: recall@16 against exact search on 20,000 synthetic scene-like keys (the benchmark's
// generator, at the default ef), filtered searches (exact fallback and over-fetching) against the exact index,
// removals, copies, and the checked save/load: a damaged, truncated, foreign or missing file is a clear error.

import Foundation
import Glibc
import TestSupport
import Testing

@testable import Memory

@Suite(.serialized, .holdingSerialLock) struct HNSWVectorIndexTests {
    /// `count` random rows of `dimension` values, a few tight groups so neighbours are meaningful.
    static func rows(_ count: Int, dimension: Int, seed: UInt64 = 7) -> [[Float]] {
        var random = TestRandom(seed: seed)
        let centres = (0..<20).map { _ in random.normals(dimension) }
        return (0..<count).map { i in centres[i % 20].map { $0 + Float(random.normal() * 0.4) } }
    }

    static func build(_ rows: [[Float]], parameters: HNSWVectorIndex.Parameters = .init()) throws
        -> (HNSWVectorIndex, ExactVectorIndex)
    {
        var graph = try HNSWVectorIndex(dimension: rows[0].count, parameters: parameters)
        var exact = ExactVectorIndex(dimension: rows[0].count)
        for (i, row) in rows.enumerated() {
            row.withUnsafeBufferPointer {
                graph.add(id: 10 * i, time: Double(i), vector: $0)
                exact.add(id: 10 * i, time: Double(i), vector: $0)
            }
        }
        return (graph, exact)
    }
}

extension HNSWVectorIndexTests {
    @Test func recallAt16OnTwentyThousandSceneKeysIsAtLeast95Percent() throws {
        var options = VectorIndexBenchmark.Options()
        options.count = 20_000
        options.queries = 100
        options.threads = 2  // hnswlib's concurrent insertion: not deterministic, but far above the bound
        options.efs = [options.parameters.ef]
        let results = try VectorIndexBenchmark.run(options)
        let recall = try #require(results["recall_at_16_ef_\(options.parameters.ef)"])
        #expect(recall >= 0.95, "recall@16 \(recall) at ef \(options.parameters.ef)")
        let filtered = try #require(results["recall_at_16_older_half_ef_\(options.parameters.ef)"])
        #expect(filtered >= 0.95, "recall@16 with a causal filter \(filtered)")
    }

    @Test func filteredSearchesAgreeWithExactSearch() throws {
        let rows = Self.rows(3_000, dimension: 24)
        var parameters = HNSWVectorIndex.Parameters()
        parameters.exactFallbackRows = 500
        let (graph, exact) = try Self.build(rows, parameters: parameters)
        var random = TestRandom(seed: 99)
        for q in 0..<40 {
            let query = random.normals(24)
            // Selective bounds (exact fallback over the graph's own vectors): identical to exact search.
            for filter in [
                VectorSearchFilter(maxTime: 300), VectorSearchFilter(maxID: 1_990), VectorSearchFilter(minTime: 2_700),
                VectorSearchFilter(maxTime: 2_000, minTime: 1_800),
                VectorSearchFilter(maxTime: Double(100 + q), admits: { $0 % 20 == 0 }),
            ] {
                let a = graph.search(query, k: 7, filter: filter).map(\.id)
                let b = exact.search(query, k: 7, filter: filter).map(\.id)
                #expect(a == b)
            }
            // Broad filters go through the graph: every result obeys them and nearly all are exact's.
            let broad = VectorSearchFilter(maxTime: 2_500, admits: { $0 % 30 != 0 })
            let found = graph.search(query, k: 10, filter: broad)
            #expect(found.count == 10)
            #expect(found.allSatisfy { $0.id <= 25_000 && $0.id % 30 != 0 })
            let expected = Set(exact.search(query, k: 10, filter: broad).map(\.id))
            #expect(found.filter { expected.contains($0.id) }.count >= 9)
            #expect(zip(found, found.dropFirst()).allSatisfy { $0.score >= $1.score })
        }
    }

    @Test func removedRowsAreNeverReturnedAndCopiesSeeTheirOwnRows() throws {
        let rows = Self.rows(1_200, dimension: 16)
        var (graph, _) = try Self.build(Array(rows.prefix(1_000)))
        let before = graph
        for (i, row) in rows.enumerated().dropFirst(1_000) {
            row.withUnsafeBufferPointer { graph.add(id: 10 * i, time: Double(i), vector: $0) }
        }
        #expect(before.count == 1_000 && graph.count == 1_200)
        // The copy taken before the adds never returns the newer rows.
        for row in rows.suffix(50) {
            #expect(before.search(row, k: 5).allSatisfy { $0.id < 10_000 })
            #expect(graph.search(row, k: 1).first?.id ?? -1 >= 10_000)
        }
        let gone = Set(stride(from: 0, to: 12_000, by: 20))
        graph.remove(gone)
        #expect(graph.deletedCount == gone.count && graph.liveCount == 1_200 - gone.count)
        for row in rows.prefix(100) {
            #expect(graph.search(row, k: 20).allSatisfy { !gone.contains($0.id) })
            #expect(
                graph.search(row, k: 20, filter: VectorSearchFilter(maxTime: 50)).allSatisfy { !gone.contains($0.id) })
        }
        #expect(graph.liveIDs() == (0..<1_200).map { 10 * $0 }.filter { !gone.contains($0) })
    }

    @Test func saveAndLoadGiveTheSameIndex() throws {
        let folder = try TemporaryFolder("hnsw")
        defer { folder.remove() }
        var (graph, _) = try Self.build(Self.rows(2_000, dimension: 32))
        graph.remove([0, 10, 20_000 - 10])
        let base = folder.file("keys")
        try graph.save(to: base)
        try graph.save(to: base)  // a second generation replaces the first
        #expect(HNSWGraph.graphFiles(base: base).count == 1)
        let loaded = try HNSWVectorIndex.load(from: base, dimension: 32)
        #expect(loaded.count == graph.count && loaded.deletedCount == 3 && loaded.lastID == graph.lastID)
        #expect(loaded.parameters == graph.parameters)
        var random = TestRandom(seed: 5)
        for _ in 0..<30 {
            let query = random.normals(32)
            #expect(loaded.search(query, k: 8) == graph.search(query, k: 8))
            let filter = VectorSearchFilter(maxTime: 1_000)
            #expect(loaded.search(query, k: 8, filter: filter) == graph.search(query, k: 8, filter: filter))
        }
        // The loaded graph keeps growing.
        var grown = loaded
        let extra = random.normals(32)
        extra.withUnsafeBufferPointer { grown.add(id: 99_999, time: 5_000, vector: $0) }
        #expect(grown.search(extra, k: 1).first?.id == 99_999)
        try HNSWVectorIndex.removeFiles(at: base)
        #expect(!HNSWVectorIndex.exists(at: base) && HNSWGraph.graphFiles(base: base).isEmpty)
    }

    @Test func damagedTruncatedForeignOrMissingFilesAreClearErrors() throws {
        let folder = try TemporaryFolder("hnsw-bad")
        defer { folder.remove() }
        let (graph, _) = try Self.build(Self.rows(500, dimension: 16))
        let base = folder.file("keys")
        try graph.save(to: base)
        let graphPath = try #require(HNSWGraph.graphFiles(base: base).first)
        let metaPath = HNSWVectorIndex.metadataPath(base: base)
        let goodGraph = try Data(contentsOf: URL(fileURLWithPath: graphPath))
        let goodMeta = try Data(contentsOf: URL(fileURLWithPath: metaPath))

        func expectError(_ matches: (MemoryError) -> Bool, dimension: Int = 16) {
            do {
                _ = try HNSWVectorIndex.load(from: base, dimension: dimension)
                Issue.record("loaded a bad index")
            } catch {
                #expect(matches(error), "\(error)")
                #expect(error.description.contains(base))
            }
        }
        func isCorrupt(_ e: MemoryError) -> Bool {
            if case .corruptVectorIndex = e { return true } else { return false }
        }

        // One flipped byte in the middle of the graph (a link or a vector).
        var flipped = goodGraph
        flipped[flipped.count / 2] ^= 0x40
        try flipped.write(to: URL(fileURLWithPath: graphPath))
        expectError(isCorrupt)
        // A truncated graph.
        try goodGraph.prefix(goodGraph.count - 100).write(to: URL(fileURLWithPath: graphPath))
        expectError(isCorrupt)
        // Garbage of the right length.
        var random = TestRandom(seed: 3)
        try Data((0..<goodGraph.count).map { _ in UInt8(truncatingIfNeeded: random.next()) })
            .write(to: URL(fileURLWithPath: graphPath))
        expectError(isCorrupt)
        try goodGraph.write(to: URL(fileURLWithPath: graphPath))
        // A damaged or truncated sidecar.
        var meta = goodMeta
        meta[30] ^= 1
        try meta.write(to: URL(fileURLWithPath: metaPath))
        expectError(isCorrupt)
        try goodMeta.prefix(20).write(to: URL(fileURLWithPath: metaPath))
        expectError(isCorrupt)
        try Data("not an index".utf8).write(to: URL(fileURLWithPath: metaPath))
        expectError(isCorrupt)
        try goodMeta.write(to: URL(fileURLWithPath: metaPath))
        // Another model's keys.
        expectError({ if case .foreignVectorIndex = $0 { return true } else { return false } }, dimension: 24)
        // The graph file missing.
        unlink(graphPath)
        expectError({ if case .readFailed = $0 { return true } else { return false } })
    }
}
