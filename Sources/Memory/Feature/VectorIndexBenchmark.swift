// Recall and speed of the HNSW global-key graph against exact search (docs/memory.md, "Long-horizon search"), on
// synthetic keys shaped like a long video's global keys rather than uniform noise:
//
//   scenes   S = max(10, N/500) scenes, each a centre c_s ~ N(0, I_H) and a motion basis B_s ∈ R^{H×8}, N(0, 1)
//   stream   visits one after another: a visit picks a scene (half the time one of the most frequent 10%, else any:
//            scenes recur), lasts U[10, 300] frames, and moves a state z ∈ R^8 from z₀ ~ N(0, 0.15²) by
//            z ← 0.98·z + 0.03·ε (slow camera or object motion); a frame's key is c_s + B_s·z + 0.03·ε' (noise)
//   queries  frames of fresh visits (not in the index): "when did this scene appear before?"
//
// Each visit is a tight island and a scene's visits are islands at similar distances, which is what makes HNSW
// miss (a search settles in the wrong island); isotropic noise would be easier. Reported: recall@k (|HNSW ∩
// exact| / k, averaged over the queries) per ef, near recall (results within 0.001 cosine of the exact k-th best
// count too: near ties), query time p50/p95 per ef and for exact search, build time, bytes
// of the graph and of the exact rows, resident memory, and optionally save/load times of the graph file.

import Dispatch
import Foundation
import VigilCore

/// Recall@k of HNSW against exact search on synthetic scene-like keys, with build and query times.
public enum VectorIndexBenchmark {
    /// What to measure.
    public struct Options: Sendable {
        /// Keys in the index (default 1,000,000).
        public var count = 1_000_000
        /// Values per key (default 576: SmolVLM2-256M's hidden size).
        public var dimension = 576
        /// Results per search (default 16).
        public var k = 16
        /// Queries (default 1,000).
        public var queries = 1_000
        /// Search breadths to measure.
        public var efs = [64, 128, 256, 512, 1024]
        /// Build threads (1: deterministic).
        public var threads = 2
        /// The graph's settings (ef is overridden by `efs`; the exact fallback is turned off).
        public var parameters = HNSWVectorIndex.Parameters()
        /// Seed of the synthetic keys.
        public var seed: UInt64 = 1
        /// A folder to time saving and loading the graph in (nil: not measured).
        public var saveDirectory: String?
        /// Progress lines on standard error.
        public var verbose = false

        /// The defaults.
        public init() {}
    }

    /// `run` with `count` keys of `dimension` values and recall@`k`, other options at their defaults.
    public static func run(count: Int, dimension: Int, k: Int) throws(MemoryError) -> [String: Double] {
        var options = Options()
        options.count = count
        options.dimension = dimension
        options.k = k
        return try run(options)
    }

    /// Builds both indexes over the same keys and measures them; keys are milliseconds, seconds, bytes, ratios.
    public static func run(_ options: Options) throws(MemoryError) -> [String: Double] {
        let (n, dim, k) = (options.count, options.dimension, options.k)
        precondition(n > 0 && dim > 0 && k > 0 && options.queries > 0)
        func say(_ line: String) { if options.verbose { Console.errLine("VectorIndexBench: " + line) } }
        var results: [String: Double] = ["count": Double(n), "dimension": Double(dim), "k": Double(k)]
        var keys = SceneKeys(count: n, dimension: dim, seed: options.seed)
        var exact = ExactVectorIndex(dimension: dim)
        // The exact fallback for small ranges stays off, so every search measured is a graph search.
        var parameters = options.parameters
        parameters.exactFallbackRows = 0
        var graph = try HNSWVectorIndex(dimension: dim, parameters: parameters)

        // Keys go to both indexes in blocks, so the raw keys never exist all at once.
        var buildSeconds = 0.0
        var generated = 0
        let block = 65_536
        while generated < n {
            let rows = min(block, n - generated)
            var units = [Float](repeating: 0, count: rows * dim)
            var frame = [Float](repeating: 0, count: dim)
            for r in 0..<rows {
                keys.next(into: &frame)
                frame.withUnsafeBufferPointer { exact.add(id: generated + r, time: Double(generated + r), vector: $0) }
                let unit = frame.withUnsafeBufferPointer { FeatureMath.normalized($0) }
                units.replaceSubrange(r * dim..<(r + 1) * dim, with: unit)
            }
            let ids = Array(generated..<generated + rows)
            let start = DispatchTime.now()
            units.withUnsafeBufferPointer {
                graph.addUnitBatch(ids: ids, times: ids.map(Double.init), vectors: $0, threads: options.threads)
            }
            buildSeconds += start.secondsElapsed
            generated += rows
            say("\(generated) keys, graph build \(String(format: "%.1f", buildSeconds)) s")
        }
        results["build_seconds"] = buildSeconds
        results["build_ms_per_key"] = buildSeconds * 1000 / Double(n)
        results["graph_bytes"] = Double(graph.byteCount)
        results["exact_bytes"] = Double(exact.byteCount)
        results["resident_bytes"] = Double(ProcessMemory.residentBytes)

        // Queries: frames of fresh visits.
        var queries: [[Float]] = []
        for _ in 0..<options.queries {
            var query = [Float](repeating: 0, count: dim)
            keys.freshFrame(into: &query)
            queries.append(query)
        }
        var truth: [Set<Int>] = []
        var kthScores: [Float] = []
        var exactTimes: [Double] = []
        for query in queries {
            let start = DispatchTime.now()
            let found = exact.search(query, k: k)
            exactTimes.append(start.secondsElapsed * 1000)
            truth.append(Set(found.map(\.id)))
            kthScores.append(found.last?.score ?? -1)
        }
        results["exact_query_p50_ms"] = percentile(exactTimes, 0.50)
        results["exact_query_p95_ms"] = percentile(exactTimes, 0.95)
        say("exact search p50 \(String(format: "%.2f", percentile(exactTimes, 0.5))) ms")

        for ef in options.efs {
            graph.setSearchBreadth(ef)
            var times: [Double] = []
            var hits = 0
            var nearHits = 0
            for (q, query) in queries.enumerated() {
                let start = DispatchTime.now()
                let found = graph.search(query, k: k)
                times.append(start.secondsElapsed * 1000)
                hits += found.filter { truth[q].contains($0.id) }.count
                nearHits += found.filter { truth[q].contains($0.id) || $0.score >= kthScores[q] - Self.nearTie }.count
            }
            let recall = Double(hits) / Double(k * queries.count)
            results["recall_at_\(k)_ef_\(ef)"] = recall
            results["near_recall_at_\(k)_ef_\(ef)"] = Double(nearHits) / Double(k * queries.count)
            results["query_p50_ms_ef_\(ef)"] = percentile(times, 0.50)
            results["query_p95_ms_ef_\(ef)"] = percentile(times, 0.95)
            let p50 = String(format: "%.3f", percentile(times, 0.5))
            say("ef \(ef): recall@\(k) \(String(format: "%.4f", recall)), p50 \(p50) ms")
        }

        // A causal filter admitting the older half: the over-fetching path.
        graph.setSearchBreadth(options.parameters.ef)
        let half = VectorSearchFilter(maxTime: Double(n / 2))
        var hits = 0
        var times: [Double] = []
        for query in queries {
            let expected = Set(exact.search(query, k: k, filter: half).map(\.id))
            let start = DispatchTime.now()
            let found = graph.search(query, k: k, filter: half)
            times.append(start.secondsElapsed * 1000)
            hits += found.filter { expected.contains($0.id) }.count
        }
        results["recall_at_\(k)_older_half_ef_\(options.parameters.ef)"] = Double(hits) / Double(k * queries.count)
        results["query_p50_ms_older_half_ef_\(options.parameters.ef)"] = percentile(times, 0.50)

        if let folder = options.saveDirectory {
            let base = folder + "/vector-index-bench"
            var start = DispatchTime.now()
            try graph.save(to: base)
            results["save_seconds"] = start.secondsElapsed
            start = DispatchTime.now()
            let loaded = try HNSWVectorIndex.load(from: base, dimension: dim)
            results["load_seconds"] = start.secondsElapsed
            results["loaded_matches"] = loaded.search(queries[0], k: k) == graph.search(queries[0], k: k) ? 1 : 0
            try HNSWVectorIndex.removeFiles(at: base)
        }
        return results
    }

    /// A result at most this much below the exact k-th best cosine counts for `near_recall` (a near tie).
    static let nearTie: Float = 0.001

    /// The `p` quantile of `values` (nearest rank).
    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((p * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count, max(1, rank)) - 1]
    }
}

/// The synthetic scene-like key stream of the benchmark (see the top of this file).
struct SceneKeys {
    static let motionRank = 8
    let dimension: Int
    private var random: SplitMix
    private let centers: [Float]
    private let bases: [Float]
    private let sceneCount: Int
    private var scene = 0
    private var left = 0
    private var state = [Float](repeating: 0, count: SceneKeys.motionRank)

    /// A stream for an index of `count` keys.
    init(count: Int, dimension: Int, seed: UInt64) {
        self.dimension = dimension
        random = SplitMix(seed: seed)
        sceneCount = max(10, count / 500)
        var random = self.random
        centers = (0..<sceneCount * dimension).map { _ in Float(random.normal()) }
        bases = (0..<sceneCount * dimension * Self.motionRank).map { _ in Float(random.normal()) }
        self.random = random
    }

    /// The next frame of the stream.
    mutating func next(into key: inout [Float]) {
        if left == 0 { startVisit() }
        left -= 1
        frame(into: &key)
    }

    /// A frame of a fresh visit, outside the stream (the stream continues where it was).
    mutating func freshFrame(into key: inout [Float]) {
        let saved = (scene, left, state)
        startVisit()
        for _ in 0..<Int(random.uniform() * Double(left)) { advance() }
        frame(into: &key)
        (scene, left, state) = saved
    }

    private mutating func startVisit() {
        let frequent = max(1, sceneCount / 10)
        scene = random.uniform() < 0.5 ? Int(random.next() % UInt64(frequent)) : Int(random.next() % UInt64(sceneCount))
        left = 10 + Int(random.next() % 291)
        for c in 0..<Self.motionRank { state[c] = Float(0.15 * random.normal()) }
    }

    private mutating func advance() {
        for c in 0..<Self.motionRank { state[c] = 0.98 * state[c] + Float(0.03 * random.normal()) }
    }

    private mutating func frame(into key: inout [Float]) {
        advance()
        let center = scene * dimension
        let basis = scene * dimension * Self.motionRank
        for j in 0..<dimension {
            var value = centers[center + j]
            for c in 0..<Self.motionRank { value += bases[basis + c * dimension + j] * state[c] }
            key[j] = value + Float(0.03 * random.normal())
        }
    }
}

/// SplitMix64 with Box–Muller normals: a small, fast, seeded generator.
struct SplitMix {
    private var state: UInt64
    private var spare: Double?

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Standard normal.
    mutating func normal() -> Double {
        if let spare {
            self.spare = nil
            return spare
        }
        let u = max(uniform(), 1e-300)
        let v = uniform()
        let r = (-2 * log(u)).squareRoot()
        spare = r * sin(2 * .pi * v)
        return r * cos(2 * .pi * v)
    }
}
