// Check 6.6-3 of ../shared/briefs/memory.md: the synopsis' reference mode against a NumPy reimplementation of
// Flash-VStream-Qwen's weighted_kmeans_ordered_feature with the same injected initial centroids
// (Tests/Fixtures/memory/reference_kmeans.json, from scripts/fixtures/make_memory_goldens.py): identical
// assignments and iteration counts, centroids and weights within 1e-5 relative, output sorted by time — for single
// calls and for whole streams run the realtime way (one call per frame over old centroids and the new frame).

import Foundation
import TestSupport
import Testing

@testable import Memory

@Suite struct ReferenceKMeansTests {}

private struct Golden: Decodable {
    struct Cluster: Decodable {
        let centroid: [Float]
        let weight: Int
        let time: Double
        let members: [Int]
    }

    struct Expected: Decodable {
        let labels: [Int]?
        let iterations: Int?
        let clusters: [Cluster]
    }

    struct Call: Decodable {
        let name: String
        let k: Int
        let dimension: Int
        let rows: [[Float]]
        let weights: [Int]
        let times: [Double]
        let initial_rows: [Int]?
        let reseeds: [Int]
        let expected: Expected
    }

    struct Checkpoint: Decodable {
        let after_frame: Int
        let clusters: [Cluster]
    }

    struct Stream: Decodable {
        let name: String
        let tokens_per_frame: Int
        let hidden: Int
        let k: Int
        let frames: [[Float]]
        let times: [Double]
        let initial_rows: [String: [Int]]
        let reseeds: [String: [Int]]
        let iterations: [String: Int]
        let checkpoints: [Checkpoint]
    }

    let max_iterations: Int
    let tolerance: Double
    let single_calls: [Call]
    let streams: [Stream]

    static func load() throws -> Golden {
        let data = try Data(contentsOf: Fixtures.url("memory/reference_kmeans.json"))
        return try JSONDecoder().decode(Golden.self, from: data)
    }
}

/// The golden's initial rows and re-seeds; any other call is a failure.
private struct StrictScript: ReferenceInitializer {
    let initialRows: [Int: [Int]]
    var reseeds: [Int: [Int]]

    mutating func initialRows(frame: Int, candidates: [Int], count: Int) -> [Int] {
        guard let rows = initialRows[frame] else {
            Issue.record("frame \(frame) clusters but the golden has no initial rows for it")
            return Array(candidates.prefix(count))
        }
        #expect(Set(rows).isSubset(of: candidates), "frame \(frame): initial rows are not distinct-row candidates")
        return rows
    }

    mutating func reseedRow(frame: Int, rowCount: Int) -> Int {
        guard var list = reseeds[frame], !list.isEmpty else {
            Issue.record("frame \(frame) re-seeds but the golden has no row for it")
            return 0
        }
        let row = list.removeFirst()
        reseeds[frame] = list
        return row
    }
}

private func expectClose(_ got: [Float], _ expected: [Float], _ what: String) {
    let scale = expected.map { abs($0) }.max() ?? 0
    let worst = zip(got, expected).map { abs($0 - $1) }.max() ?? 0
    #expect(got.count == expected.count && worst <= 1e-5 * max(scale, 1e-6), "\(what): off by \(worst)")
}

private func expectClusters(_ got: [SynopsisCluster], _ expected: [Golden.Cluster], _ what: String) {
    #expect(got.count == expected.count, "\(what): \(got.count) clusters, expected \(expected.count)")
    for (index, (cluster, golden)) in zip(got, expected).enumerated() {
        #expect(cluster.members.ranges.flatMap { Array($0) } == golden.members, "\(what) cluster \(index): members")
        #expect(cluster.weight == golden.weight, "\(what) cluster \(index): weight")
        #expect(abs(cluster.meanTime - golden.time) <= 1e-12 * max(1, abs(golden.time)), "\(what) cluster \(index)")
        expectClose(cluster.centroid, golden.centroid, "\(what) cluster \(index) centroid")
    }
    let times = got.map(\.meanTime)
    #expect(times == times.sorted(), "\(what): not sorted by time")
}

extension ReferenceKMeansTests {
    @Test func singleCallsMatchTheNumPyReference() throws {
        let golden = try Golden.load()
        #expect(golden.max_iterations == 10 && golden.tolerance == 1e-4 && golden.single_calls.count == 4)
        for call in golden.single_calls {
            let rows = call.rows.indices.map { r -> SynopsisCluster in
                let w = call.weights[r]
                return SynopsisCluster(
                    weight: w, keySum: call.rows[r].map { $0 * Float(w) }, fullSum: call.rows[r],
                    timeSum: call.times[r] * Double(w), start: call.times[r], end: call.times[r],
                    members: MemberList(ranges: [r...r]), referenceCentroid: call.rows[r])
            }
            var initializer: any ReferenceInitializer = StrictScript(
                initialRows: call.initial_rows.map { [0: $0] } ?? [:], reseeds: [0: call.reseeds])
            let result = ReferenceKMeans.cluster(
                rows: rows, k: call.k, maxIterations: golden.max_iterations, tolerance: golden.tolerance, frame: 0,
                initializer: &initializer)
            if let labels = call.expected.labels { #expect(result.labels == labels, "\(call.name): labels") }
            #expect(result.iterations == call.expected.iterations, "\(call.name): iterations")
            expectClusters(result.clusters, call.expected.clusters, call.name)
            if !call.reseeds.isEmpty {
                #expect((initializer as! StrictScript).reseeds[0]!.isEmpty, "\(call.name): re-seeds unused")
            }
        }
    }

    @Test func streamsMatchTheNumPyReferenceFrameByFrame() throws {
        let golden = try Golden.load()
        for stream in golden.streams {
            let geometry = try FeatureGeometry(tokenCount: stream.tokens_per_frame, hiddenSize: stream.hidden)
            var synopsis = try Synopsis(
                configuration: Synopsis.Configuration(clusterCount: stream.k, mode: .reference), geometry: geometry)
            synopsis.initializer = StrictScript(
                initialRows: Dictionary(uniqueKeysWithValues: stream.initial_rows.map { (Int($0.key)!, $0.value) }),
                reseeds: Dictionary(uniqueKeysWithValues: stream.reseeds.map { (Int($0.key)!, $0.value) }))
            let checkpoints = Dictionary(uniqueKeysWithValues: stream.checkpoints.map { ($0.after_frame, $0) })
            var checked = 0
            for (id, tokens) in stream.frames.enumerated() {
                synopsis.add(
                    id: id, time: stream.times[id], features: FrameFeatures(tokens: tokens, geometry: geometry))
                #expect(synopsis.clusters.reduce(0) { $0 + $1.weight } == id + 1)
                if let iterations = stream.iterations[String(id)] {
                    #expect(synopsis.lastIterationCount == iterations, "\(stream.name) frame \(id): iterations")
                }
                if let checkpoint = checkpoints[id] {
                    expectClusters(synopsis.clusters, checkpoint.clusters, "\(stream.name) after frame \(id)")
                    checked += 1
                }
            }
            #expect(checked == stream.checkpoints.count)
        }
    }
}
