// Search of the frames' global keys g_f (../shared/briefs/memory.md §5: exact flat scan; an approximate index such
// as HNSW only pays beyond ~10⁶ keys). `VectorIndex` is the seam; `ExactVectorIndex` is the exact cosine top-k:
// unit-normalised rows in fixed-capacity chunks, scored with one dot product each. `HNSWVectorIndex` is the
// approximate one and `TieredVectorIndex` (what FeatureMemory uses) serves the exact index up to a threshold and
// the graph beyond it.
//
// Snapshot safety without copying: chunks never move or grow (capacity fixed at allocation), rows are written
// once, and a copy of the index (as a snapshot holds it) only reads rows below its own count. The writer's later
// rows land beyond every copy's count; a new chunk goes into the writer's own chunk list (copy-on-write). A copy
// that appends where another copy already wrote first takes its own copy of that chunk, so copies stay values.

import CFeatureKernels
import Dispatch
import Foundation

/// Which rows a search may return; every condition must hold.
public struct VectorSearchFilter: Sendable {
    /// Only ids ≤ this.
    public var maxID: Int?
    /// Only rows added with time ≤ this (streaming causality).
    public var maxTime: Double?
    /// Only rows added with time ≥ this.
    public var minTime: Double?
    /// Only ids this admits (checked for candidates that would enter the top k, not for every row).
    public var admits: (@Sendable (Int) -> Bool)?

    /// A filter; the defaults admit every row.
    public init(
        maxID: Int? = nil, maxTime: Double? = nil, minTime: Double? = nil, admits: (@Sendable (Int) -> Bool)? = nil
    ) {
        self.maxID = maxID
        self.maxTime = maxTime
        self.minTime = minTime
        self.admits = admits
    }
}

/// One search result.
public struct VectorMatch: Sendable, Hashable {
    /// The row's id.
    public var id: Int
    /// Cosine similarity with the query, in [−1, 1].
    public var score: Float

    /// A match.
    public init(id: Int, score: Float) {
        self.id = id
        self.score = score
    }
}

/// A searchable collection of vectors with ids and times, added in increasing id and time order.
public protocol VectorIndex: Sendable {
    /// Values per vector.
    var dimension: Int { get }
    /// Rows held (removed rows included until compaction).
    var count: Int { get }
    /// Adds a vector; `id` and `time` must not be below the previous row's.
    mutating func add(id: Int, time: Double, vector: UnsafeBufferPointer<Float>)
    /// Drops the rows whose ids are in `ids` (the exact index rebuilds its storage and copies taken before keep
    /// their rows; the HNSW index marks its shared graph, so earlier copies lose them too).
    mutating func remove(_ ids: Set<Int>)
    /// The `k` rows most similar to `query` (cosine) among those `filter` admits, best first (ties: lower id).
    func search(_ query: [Float], k: Int, filter: VectorSearchFilter) -> [VectorMatch]
}

/// Exact cosine top-k over every row, O(N·dimension) per search.
public struct ExactVectorIndex: VectorIndex {
    /// Rows per chunk.
    static let chunkRows = 1024

    final class Chunk: @unchecked Sendable {
        // Written only by the index copy that appends (rows ≥ every other copy's count), read by all.
        let vectors: UnsafeMutablePointer<Float>
        let ids: UnsafeMutablePointer<Int>
        let times: UnsafeMutablePointer<Double>
        let stride: Int
        /// Rows written; only appenders (one thread at a time) read or write it.
        var filled = 0

        init(stride: Int) {
            self.stride = stride
            vectors = .allocate(capacity: ExactVectorIndex.chunkRows * stride)
            vectors.initialize(repeating: 0, count: ExactVectorIndex.chunkRows * stride)
            ids = .allocate(capacity: ExactVectorIndex.chunkRows)
            times = .allocate(capacity: ExactVectorIndex.chunkRows)
        }

        deinit {
            vectors.deallocate()
            ids.deallocate()
            times.deallocate()
        }
    }

    public let dimension: Int
    /// Floats between row starts (dimension rounded up to 16, for aligned rows).
    private let stride: Int
    private var chunks: [Chunk] = []
    public private(set) var count = 0

    /// An empty index of `dimension`-value vectors.
    public init(dimension: Int) {
        precondition(dimension > 0)
        self.dimension = dimension
        stride = (dimension + 15) / 16 * 16
    }

    /// Bytes allocated.
    public var byteCount: Int { chunks.count * Self.chunkRows * (stride * 4 + 16) }

    private var lastRow: (id: Int, time: Double)? {
        guard count > 0 else { return nil }
        let chunk = chunks[(count - 1) / Self.chunkRows]
        let row = (count - 1) % Self.chunkRows
        return (chunk.ids[row], chunk.times[row])
    }

    public mutating func add(id: Int, time: Double, vector: UnsafeBufferPointer<Float>) {
        precondition(vector.count == dimension, "vector of \(vector.count) values, not \(dimension)")
        if let last = lastRow { precondition(id >= last.id && time >= last.time, "rows out of order") }
        let unit = FeatureMath.normalized(vector)
        unit.withUnsafeBufferPointer { appendUnit(id: id, time: time, vector: $0) }
    }

    public mutating func remove(_ ids: Set<Int>) {
        guard !ids.isEmpty else { return }
        var rebuilt = ExactVectorIndex(dimension: dimension)
        forEachRow { id, time, vector in
            guard !ids.contains(id) else { return }
            // Rows are unit already; normalising again changes nothing but the last bit, so copy them directly.
            rebuilt.appendUnit(id: id, time: time, vector: vector)
        }
        self = rebuilt
    }

    public func search(_ query: [Float], k: Int, filter: VectorSearchFilter = VectorSearchFilter()) -> [VectorMatch] {
        precondition(query.count == dimension, "query of \(query.count) values, not \(dimension)")
        guard k > 0, count > 0 else { return [] }
        let unit = query.withUnsafeBufferPointer { FeatureMath.normalized($0) }
        let rows = admittedRows(filter)
        guard !rows.isEmpty else { return [] }
        // Long scans are memory-bound: split them over the cores (each part keeps its own top k; merging them in
        // part order with the same tie rule gives exactly the single-pass result).
        let parts = rows.count >= Self.parallelRows ? min(4, max(1, ProcessInfo.processInfo.activeProcessorCount)) : 1
        guard parts > 1 else { return topK(unit, k: k, rows: rows, admits: filter.admits) }
        let bounds = (0...parts).map { rows.lowerBound + rows.count * $0 / parts }
        let results = Locked([[VectorMatch]](repeating: [], count: parts))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let found = topK(unit, k: k, rows: bounds[part]..<bounds[part + 1], admits: filter.admits)
            results.withLock { $0[part] = found }
        }
        var best: [VectorMatch] = []
        for candidate in results.withLock({ $0 }).joined() { Self.insert(candidate, into: &best, k: k) }
        return best
    }

    /// Rows from which a search runs in parallel.
    static let parallelRows = 32_768

    /// The best `k` of `rows`, best first (ties: lower id).
    private func topK(_ unit: [Float], k: Int, rows: Range<Int>, admits: (@Sendable (Int) -> Bool)?) -> [VectorMatch] {
        var best: [VectorMatch] = []
        best.reserveCapacity(k + 1)
        var scores = [Float](repeating: 0, count: Self.chunkRows)
        var row = rows.lowerBound
        while row < rows.upperBound {
            let chunk = chunks[row / Self.chunkRows]
            let first = row % Self.chunkRows
            let n = min(Self.chunkRows - first, rows.upperBound - row)
            unit.withUnsafeBufferPointer { q in
                scores.withUnsafeMutableBufferPointer { out in
                    vfm_dot_rows(chunk.vectors + first * stride, n, dimension, stride, q.baseAddress!, out.baseAddress!)
                }
            }
            for offset in 0..<n {
                let score = scores[offset]
                if best.count == k, let worst = best.last, !(score > worst.score) { continue }
                let id = chunk.ids[first + offset]
                if let admits, !admits(id) { continue }
                Self.insert(VectorMatch(id: id, score: score), into: &best, k: k)
            }
            row += n
        }
        return best
    }

    /// Inserts `match` into `best` (sorted best first; equal scores keep the earlier, lower-id entry first) and
    /// keeps `k`.
    private static func insert(_ match: VectorMatch, into best: inout [VectorMatch], k: Int) {
        if best.count == k, let worst = best.last, !(match.score > worst.score) { return }
        let position = best.firstIndex { $0.score < match.score } ?? best.count
        best.insert(match, at: position)
        if best.count > k { best.removeLast() }
    }

    /// Calls `body` with every row's id, time and unit vector.
    func forEachRow(_ body: (Int, Double, UnsafeBufferPointer<Float>) -> Void) {
        for row in 0..<count {
            let chunk = chunks[row / Self.chunkRows]
            let r = row % Self.chunkRows
            body(chunk.ids[r], chunk.times[r], UnsafeBufferPointer(start: chunk.vectors + r * stride, count: dimension))
        }
    }

    /// Adds a row that is unit length already (rows moved from another index).
    mutating func appendUnit(id: Int, time: Double, vector: UnsafeBufferPointer<Float>) {
        if count == chunks.count * Self.chunkRows { chunks.append(Chunk(stride: stride)) }
        let row = count % Self.chunkRows
        if chunks[chunks.count - 1].filled != row {
            // Another copy of this index appended here first: continue in a private copy of the chunk.
            let shared = chunks[chunks.count - 1]
            let own = Chunk(stride: stride)
            own.vectors.update(from: shared.vectors, count: row * stride)
            own.ids.update(from: shared.ids, count: row)
            own.times.update(from: shared.times, count: row)
            own.filled = row
            chunks[chunks.count - 1] = own
        }
        let chunk = chunks[chunks.count - 1]
        (chunk.vectors + row * stride).update(from: vector.baseAddress!, count: dimension)
        chunk.ids[row] = id
        chunk.times[row] = time
        chunk.filled = row + 1
        count += 1
    }

    /// The newest row's id (nil when empty).
    var lastID: Int? { lastRow?.id }

    /// The first row whose id is above `id` (count when none).
    func firstRow(afterID id: Int) -> Int {
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            if chunks[mid / Self.chunkRows].ids[mid % Self.chunkRows] <= id { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Row `row`'s id, time and unit vector (valid while this copy lives).
    func row(_ row: Int) -> (id: Int, time: Double, vector: UnsafeBufferPointer<Float>) {
        precondition(row < count)
        let chunk = chunks[row / Self.chunkRows]
        let r = row % Self.chunkRows
        return (chunk.ids[r], chunk.times[r], UnsafeBufferPointer(start: chunk.vectors + r * stride, count: dimension))
    }

    /// The rows the id and time bounds admit: a contiguous range, since ids and times never decrease.
    private func admittedRows(_ filter: VectorSearchFilter) -> Range<Int> {
        func id(_ row: Int) -> Int { chunks[row / Self.chunkRows].ids[row % Self.chunkRows] }
        func time(_ row: Int) -> Double { chunks[row / Self.chunkRows].times[row % Self.chunkRows] }
        func partition(_ isLeading: (Int) -> Bool) -> Int {
            var low = 0
            var high = count
            while low < high {
                let mid = (low + high) / 2
                if isLeading(mid) { low = mid + 1 } else { high = mid }
            }
            return low
        }
        var upper = count
        if let maxID = filter.maxID { upper = min(upper, partition { id($0) <= maxID }) }
        if let maxTime = filter.maxTime { upper = min(upper, partition { time($0) <= maxTime }) }
        var lower = 0
        if let minTime = filter.minTime { lower = partition { time($0) < minTime } }
        return lower < upper ? lower..<upper : 0..<0
    }
}
