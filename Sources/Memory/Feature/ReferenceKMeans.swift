// Reference mode of the synopsis: Flash-VStream-Qwen's `weighted_kmeans_ordered_feature`
// (Flash-VStream-Qwen/models/compress_functions.py, IVGSZ/Flash-VStream 8f6bde2f), run once per frame over the old
// centroids (with their weights and times) and the new frame (weight 1), as its realtime path does:
//
//   X = [c_1 … c_m, k_x]  (m old centroids in time order, then the new key), weights w, times τ (weighted means)
//   m + 1 ≤ K           → pass through: the new frame becomes a cluster of its own
//   distinct rows < K   → (Flash-VStream: keeps the distinct rows with weight 1 and pads with raw rows, losing
//                          weights) we merge identical rows instead, keeping every weight (SSE 0, the exact optimum)
//   else                → K initial centroids = K distinct rows (random-unique with a fixed seed, or injected), then
//                          ≤ maxIterations Lloyd steps:
//                            labels  = argmin_j ‖X_r − c_j‖ (first minimum)
//                            c'_j    = Σ_{r∈j} w_r X_r / Σ_{r∈j} w_r;  an empty cluster takes a random row
//                            stop when Σ_j ‖c_j − c'_j‖ < tolerance (keeping c, not c'); else c ← c'
//                          the returned centroids and labels are those of the last step, as in the original
//   output               K clusters (weight = Σ w, time = Σ τ·w / Σ w of the true times, members united), sorted
//                          by time (stable)
//
// Deliberate differences, all in Flash-VStream's own bugs or edge cases: times are the weighted mean of true times
// (the original overwrites them with the mean of row indices); distances are exact (the original expands
// ‖a‖² + ‖b‖² − 2a·b in fp32, which can cancel badly); a cluster left empty by the last step is dropped (the
// original divides by zero); sums use fp64 (the original fp32), which moves centroids by ~1e-7 relative.

/// Chooses the reference k-means' initial centroids and the rows that re-seed empty clusters.
public protocol ReferenceInitializer: Sendable {
    /// `count` distinct row indices, taken from `candidates` (the first row of each distinct value, ascending),
    /// for the update that adds frame `frame`. Rows are the old clusters in time order, then the new frame.
    mutating func initialRows(frame: Int, candidates: [Int], count: Int) -> [Int]
    /// A row (in 0..<rowCount) for an empty cluster of the update that adds frame `frame`.
    mutating func reseedRow(frame: Int, rowCount: Int) -> Int
}

/// Random-unique initialisation from a seeded generator whose state is saved with the synopsis.
public struct SeededReferenceInitializer: ReferenceInitializer, Hashable {
    private var generator: SplitMix64

    /// A generator seeded with `seed`.
    public init(seed: UInt64) { generator = SplitMix64(state: seed) }

    /// A generator continuing from a saved `state`.
    public init(state: UInt64) { generator = SplitMix64(state: state) }

    /// The generator state (saved by `SynopsisState`).
    public var state: UInt64 { generator.state }

    public mutating func initialRows(frame: Int, candidates: [Int], count: Int) -> [Int] {
        var pool = candidates
        for i in 0..<min(count, pool.count) {  // partial Fisher–Yates: a uniform random ordered subset
            pool.swapAt(i, i + generator.next(below: pool.count - i))
        }
        return Array(pool.prefix(count))
    }

    public mutating func reseedRow(frame: Int, rowCount: Int) -> Int { generator.next(below: rowCount) }
}

/// Injected initial rows per frame (for checking against another implementation); frames without a script fall
/// back to a seeded generator.
public struct ScriptedReferenceInitializer: ReferenceInitializer {
    /// Initial rows by frame id.
    public var initialRows: [Int: [Int]]
    /// Re-seed rows by frame id, used in order.
    public var reseeds: [Int: [Int]]
    private var fallback: SeededReferenceInitializer

    /// A script; `seed` drives the frames it does not cover.
    public init(initialRows: [Int: [Int]], reseeds: [Int: [Int]] = [:], seed: UInt64 = 0) {
        self.initialRows = initialRows
        self.reseeds = reseeds
        fallback = SeededReferenceInitializer(seed: seed)
    }

    public mutating func initialRows(frame: Int, candidates: [Int], count: Int) -> [Int] {
        guard let rows = initialRows[frame] else {
            return fallback.initialRows(frame: frame, candidates: candidates, count: count)
        }
        precondition(
            rows.count == count && Set(rows).count == count,
            "scripted rows for frame \(frame) are not \(count) distinct rows")
        return rows
    }

    public mutating func reseedRow(frame: Int, rowCount: Int) -> Int {
        guard var list = reseeds[frame], !list.isEmpty else {
            return fallback.reseedRow(frame: frame, rowCount: rowCount)
        }
        let row = list.removeFirst()
        reseeds[frame] = list
        return row
    }
}

/// One run of the reference weighted k-means.
enum ReferenceKMeans {
    struct Result {
        var clusters: [SynopsisCluster]
        /// Lloyd steps run (nil when the rows were grouped without clustering).
        var iterations: Int?
        /// The label of each input row (into the unsorted K clusters).
        var labels: [Int]
    }

    /// Clusters `rows` (each row's vector is its centroid, its weight and time its own) into at most `k`.
    static func cluster(
        rows: [SynopsisCluster], k: Int, maxIterations: Int, tolerance: Double, frame: Int,
        initializer: inout any ReferenceInitializer
    ) -> Result {
        let x = rows.map(\.centroid)
        let weights = rows.map { Double($0.weight) }
        // The first row of each distinct value (exact equality), ascending.
        var candidates: [Int] = []
        var representative = [Int](repeating: 0, count: rows.count)
        for r in rows.indices {
            if let same = candidates.first(where: { x[$0] == x[r] }) {
                representative[r] = same
            } else {
                representative[r] = r
                candidates.append(r)
            }
        }
        if candidates.count < k {
            let labels = representative.map { candidates.firstIndex(of: $0)! }
            var grouped = candidates.map { _ in nil as SynopsisCluster? }
            for (r, label) in labels.enumerated() {
                if grouped[label] == nil { grouped[label] = rows[r] } else { grouped[label]!.absorb(rows[r]) }
                grouped[label]!.referenceCentroid = x[r]
            }
            return Result(clusters: sortedByTime(grouped.compactMap { $0 }), iterations: nil, labels: labels)
        }

        var centroids = initializer.initialRows(frame: frame, candidates: candidates, count: k).map { x[$0] }
        precondition(centroids.count == k, "the initializer gave \(centroids.count) rows, not \(k)")
        let dimension = x[0].count
        var labels = [Int](repeating: 0, count: rows.count)
        var weightSums = [Double](repeating: 0, count: k)
        var iterations = 0
        for _ in 0..<maxIterations {
            iterations += 1
            for r in rows.indices {
                var best = 0
                var bestDistance = Float.infinity
                for j in 0..<k {
                    let d = FeatureMath.squaredDistance(x[r], centroids[j])
                    if d < bestDistance {
                        best = j
                        bestDistance = d
                    }
                }
                labels[r] = best
            }
            var sums = [[Double]](repeating: [Double](repeating: 0, count: dimension), count: k)
            weightSums = [Double](repeating: 0, count: k)
            for r in rows.indices {
                FeatureMath.add(x[r], scaledBy: weights[r], to: &sums[labels[r]])
                weightSums[labels[r]] += weights[r]
            }
            var updated: [[Float]] = []
            for j in 0..<k {
                if weightSums[j] > 0 {
                    updated.append(sums[j].map { Float($0 / weightSums[j]) })
                } else {
                    updated.append(x[initializer.reseedRow(frame: frame, rowCount: rows.count)])
                }
            }
            var shift = 0.0
            for j in 0..<k { shift += Double(FeatureMath.squaredDistance(centroids[j], updated[j])).squareRoot() }
            if shift < tolerance { break }
            centroids = updated
        }

        var clusters: [SynopsisCluster] = []
        for j in 0..<k where weightSums[j] > 0 {
            var merged: SynopsisCluster?
            for r in rows.indices where labels[r] == j {
                if merged == nil { merged = rows[r] } else { merged!.absorb(rows[r]) }
            }
            merged!.referenceCentroid = centroids[j]
            clusters.append(merged!)
        }
        return Result(clusters: sortedByTime(clusters), iterations: iterations, labels: labels)
    }

    /// Stable sort by weighted mean time.
    private static func sortedByTime(_ clusters: [SynopsisCluster]) -> [SynopsisCluster] {
        clusters.enumerated().sorted {
            $0.element.meanTime != $1.element.meanTime
                ? $0.element.meanTime < $1.element.meanTime : $0.offset < $1.offset
        }.map(\.element)
    }
}
