// The tiered global-key index: exact below its threshold, a graph built a few rows per add once it is crossed, the
// graph serving once it caught up — and correct answers at every step of the switch; rebuilding after many
// removals and going back to exact; saving and loading; and FeatureMemory reopening its bank with the saved graph
// (reconciled with the bank) or, when the graph is damaged, rebuilding it.

import Foundation
import Glibc
import TestSupport
import Testing

@testable import Memory

@Suite(.serialized, .holdingSerialLock) struct TieredVectorIndexTests {
    static let dimension = 24

    static func configuration(threshold: Int) -> TieredVectorIndex.Configuration {
        TieredVectorIndex.Configuration(threshold: threshold, migrationBatch: 16)
    }
}

extension TieredVectorIndexTests {
    @Test func switchesAtTheThresholdAndKeepsAnsweringCorrectly() throws {
        let rows = HNSWVectorIndexTests.rows(1_500, dimension: Self.dimension)
        var tiered = TieredVectorIndex(dimension: Self.dimension, configuration: Self.configuration(threshold: 400))
        var exact = ExactVectorIndex(dimension: Self.dimension)
        var random = TestRandom(seed: 11)
        let queries = (0..<10).map { _ in random.normals(Self.dimension) }
        var phases: [TieredVectorIndex.Phase] = []
        var graphHits = 0
        var graphResults = 0
        for (i, row) in rows.enumerated() {
            row.withUnsafeBufferPointer {
                tiered.add(id: i, time: Double(i), vector: $0)
                exact.add(id: i, time: Double(i), vector: $0)
            }
            let phase = tiered.phase
            if phases.last.map({ !Self.samePhase($0, phase) }) ?? true { phases.append(phase) }
            guard i % 25 == 0 else { continue }
            for query in queries {
                let got = tiered.search(query, k: 5)
                let want = exact.search(query, k: 5)
                #expect(tiered.count == i + 1)
                if case .graph = phase {
                    graphHits += got.filter { w in want.contains { $0.id == w.id } }.count
                    graphResults += 5
                    #expect(got.count == 5)
                } else {
                    #expect(got == want, "row \(i), phase \(phase)")
                }
                // A causal bound is exact in every phase (a small range: exact fallback).
                let bounded = VectorSearchFilter(maxTime: Double(i / 10))
                #expect(
                    tiered.search(query, k: 3, filter: bounded).map(\.id)
                        == exact.search(query, k: 3, filter: bounded).map(\.id))
            }
        }
        #expect(phases.count == 3, "\(phases)")
        if case .exact = phases[0] {} else { Issue.record("starts \(phases[0])") }
        if case .building = phases[1] {} else { Issue.record("then \(phases[1])") }
        if case .graph = phases[2] {} else { Issue.record("ends \(phases[2])") }
        #expect(tiered.exact == nil && tiered.graph?.count == 1_500)
        #expect(Double(graphHits) >= 0.97 * Double(graphResults), "\(graphHits) of \(graphResults)")
    }

    @Test func finishingABacklogAtOnceGivesTheSameRows() throws {
        let rows = HNSWVectorIndexTests.rows(900, dimension: Self.dimension)
        var tiered = TieredVectorIndex(dimension: Self.dimension, configuration: Self.configuration(threshold: 300))
        for (i, row) in rows.enumerated() {
            row.withUnsafeBufferPointer { tiered.add(id: i, time: Double(i), vector: $0, migrating: false) }
        }
        if case .building(let moved, let of) = tiered.phase {
            #expect(moved == 0 && of == 900)
        } else {
            Issue.record("\(tiered.phase)")
        }
        tiered.finishBuilding(threads: 2)
        #expect(tiered.phase == .graph && tiered.liveIDs() == Array(0..<900))
        #expect(tiered.search(rows[123], k: 1).first?.id == 123)
    }

    @Test func manyRemovalsRebuildTheGraphOrGoBackToExact() throws {
        let rows = HNSWVectorIndexTests.rows(1_000, dimension: Self.dimension)
        var tiered = TieredVectorIndex(dimension: Self.dimension, configuration: Self.configuration(threshold: 200))
        for (i, row) in rows.enumerated() {
            row.withUnsafeBufferPointer { tiered.add(id: i, time: Double(i), vector: $0) }
        }
        #expect(tiered.phase == .graph)
        // More deleted than live, live still ≥ threshold / 2: a fresh graph is built from the live rows.
        tiered.remove(Set(0..<600))
        if case .rebuilding = tiered.phase {} else { Issue.record("\(tiered.phase)") }
        var id = 1_000
        while tiered.phase != .graph {
            rows[id % 1_000].withUnsafeBufferPointer { tiered.add(id: id, time: Double(id), vector: $0) }
            id += 1
        }
        #expect(tiered.graph!.deletedCount == 0 && tiered.liveIDs() == Array(600..<id))
        #expect(tiered.search(rows[700], k: 1).first?.id == 700)
        // Live rows below threshold / 2: back to exact at once.
        tiered.remove(Set(600..<(id - 50)))
        #expect(tiered.phase == .exact && tiered.liveIDs() == Array((id - 50)..<id))
        #expect(tiered.search(rows[(id - 1) % 1_000], k: 1).first?.id == id - 1)
    }

    @Test func savesAndLoadsItsGraph() throws {
        let folder = try TemporaryFolder("tiered")
        defer { folder.remove() }
        let base = folder.file("global-keys")
        let rows = HNSWVectorIndexTests.rows(600, dimension: Self.dimension)
        var tiered = TieredVectorIndex(dimension: Self.dimension, configuration: Self.configuration(threshold: 100))
        for (i, row) in rows.enumerated() {
            row.withUnsafeBufferPointer { tiered.add(id: i, time: Double(i), vector: $0) }
        }
        try tiered.save(to: base)
        let loaded = try #require(try TieredVectorIndex.load(from: base, dimension: Self.dimension))
        #expect(loaded.phase == .graph && loaded.count == 600)
        for row in rows.prefix(20) { #expect(loaded.search(row, k: 4) == tiered.search(row, k: 4)) }
        // Exact phase: saving removes a stale graph.
        let small = TieredVectorIndex(dimension: Self.dimension, configuration: Self.configuration(threshold: 100))
        try small.save(to: base)
        #expect(try TieredVectorIndex.load(from: base, dimension: Self.dimension) == nil)
    }

    @Test func featureMemoryReopensWithItsSavedGraphOrRebuildsIt() throws {
        let folder = try TemporaryFolder("tiered-memory")
        defer { folder.remove() }
        let geometry = try FeatureGeometry(tokenCount: 4, hiddenSize: 16)
        let configuration = FeatureMemoryConfiguration(
            bank: FeatureBank.Configuration(
                geometry: geometry, ramSeconds: 50, directory: folder.path, syncInterval: 0),
            globalKeys: Self.configuration(threshold: 60))
        var random = TestRandom(seed: 21)
        func tokens() -> [Float] { random.normals(geometry.frameValueCount) }
        var memory = try FeatureMemory(configuration: configuration)
        for frame in 0..<300 { try memory.ingest(frame: frame, tokens: tokens(), time: Double(frame)) }
        #expect(memory.globalKeyIndexPhase == .graph)
        try memory.saveGlobalKeyIndex()
        let queries = (0..<10).map { _ in random.normals(16) }
        let before = queries.map { try! memory.snapshot().searchGlobalKeys($0, k: 5) }
        memory.close()

        // Reopened: the graph is loaded (no rebuild), answers the same, and keeps growing.
        memory = try FeatureMemory(configuration: configuration)
        #expect(memory.globalKeyIndexPhase == .graph)
        #expect(queries.map { try! memory.snapshot().searchGlobalKeys($0, k: 5) } == before)
        for frame in 300..<320 { try memory.ingest(frame: frame, tokens: tokens(), time: Double(frame)) }
        let newest = try memory.snapshot().frame(id: 319)!.globalKey()
        #expect(try memory.snapshot().searchGlobalKeys(newest, k: 1).first?.id == 319)
        memory.close()

        // Frames ingested after the save (300…319) are added to the loaded graph on reopening.
        memory = try FeatureMemory(configuration: configuration)
        #expect(try memory.snapshot().searchGlobalKeys(newest, k: 1).first?.id == 319)
        memory.close()

        // A damaged graph file: a warning, and the index is rebuilt from the bank.
        let graphPath = try #require(HNSWGraph.graphFiles(base: configuration.globalKeyIndexBase!).first)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: graphPath))
        bytes[bytes.count / 3] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: graphPath))
        memory = try FeatureMemory(configuration: configuration)
        #expect(try memory.snapshot().searchGlobalKeys(newest, k: 1).first?.id == 319)
        memory.close()
    }

    static func samePhase(_ a: TieredVectorIndex.Phase, _ b: TieredVectorIndex.Phase) -> Bool {
        switch (a, b) {
        case (.exact, .exact), (.graph, .graph), (.building, .building), (.rebuilding, .rebuilding): return true
        default: return false
        }
    }
}
