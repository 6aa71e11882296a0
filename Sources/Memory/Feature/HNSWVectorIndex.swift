// The approximate global-key index: an HNSW graph (hnswlib through the CHNSW shim) of unit vectors searched by
// inner product, i.e. cosine similarity. TieredVectorIndex serves it beyond its threshold; on its own it is a
// `VectorIndex` like the exact one, with two differences in what copies see (below).
//
//   rows:   label r = the r-th row added; ids[r], times[r] kept beside the graph (ids and times never decrease,
//           so the id and time bounds of a filter are one label range found by binary search)
//   search: range ≤ exactFallbackRows, or under 1/8 of the rows → exact scan of the range over the graph's own
//           vectors; otherwise ask the graph for max(k, ⌈k·rows/range⌉ + k) candidates (ef = max(ef, that)),
//           keep those in range that `admits` takes, and ask for 4× more while fewer than k remain (past 4,096
//           candidates: exact scan of the range)
//
// Copies share one graph (it cannot be copied cheaply) behind a reader-writer lock: searches and saves read, adds
// and removals write. A copy sees the rows that existed when it was taken (its own `count`), so a snapshot stays
// causal while the writer keeps adding; but a removal marks the shared graph, so copies taken before it stop
// returning the removed rows too (the exact index keeps them in older copies), and only the newest copy may add.
//
// Files (`save(to:)`, base path B): `B.hnsw-<generation>` (hnswlib's own format, written and checked by the shim)
// and `B.hnsw-meta` (this file's sidecar: settings, every row's id and time, the graph file's size and CRC-32C,
// a CRC-32C of itself). The graph file is written and flushed under a new generation name first, then the sidecar
// replaces the old one atomically, then older generations are deleted: a crash leaves the old pair or the new one.

import CHNSW
import Foundation
import Glibc

/// An HNSW graph of unit vectors with ids and times: approximate cosine top-k in O(log N) per search.
public struct HNSWVectorIndex: VectorIndex {
    /// How the graph is built and searched.
    public struct Parameters: Sendable, Hashable {
        /// Links per node and layer (twice as many on layer 0); more links cost memory and build time and raise
        /// recall on clustered data (default 32).
        public var m: Int
        /// Candidates kept while inserting (default 800: on scene-like keys recall depends on it far more than on
        /// M; see docs/memory.md, "Long-horizon search").
        public var efConstruction: Int
        /// Candidates kept while searching, at least k (default 256).
        public var ef: Int
        /// Seed of the level generator (single-threaded builds are deterministic for a seed).
        public var seed: UInt64
        /// Filters admitting at most this many rows are answered by an exact scan of those rows (default 20,000).
        public var exactFallbackRows: Int

        /// Parameters; the defaults are the ones measured in docs/memory.md.
        public init(
            m: Int = 32, efConstruction: Int = 800, ef: Int = 256, seed: UInt64 = 100, exactFallbackRows: Int = 20_000
        ) {
            self.m = m
            self.efConstruction = efConstruction
            self.ef = ef
            self.seed = seed
            self.exactFallbackRows = exactFallbackRows
        }

        func validate() throws(MemoryError) {
            guard (2...10_000).contains(m), efConstruction >= 1, ef >= 1, exactFallbackRows >= 0 else {
                throw .invalidFeatureSetting(
                    setting: "HNSW parameters",
                    detail: "M = \(m), efConstruction = \(efConstruction), ef = \(ef): M must be 2…10,000 and the "
                        + "breadths ≥ 1")
            }
        }
    }

    public let dimension: Int
    /// Rows this copy sees (deleted ones included).
    public private(set) var count: Int
    let graph: HNSWGraph

    /// An empty graph for `dimension`-value vectors.
    public init(dimension: Int, parameters: Parameters = Parameters()) throws(MemoryError) {
        precondition(dimension > 0)
        try parameters.validate()
        self.dimension = dimension
        count = 0
        graph = try HNSWGraph(dimension: dimension, parameters: parameters)
    }

    private init(graph: HNSWGraph) {
        dimension = graph.dimension
        self.graph = graph
        count = graph.read { $0.ids.count }
    }

    /// The graph's settings (`ef` as last set).
    public var parameters: Parameters { graph.read { $0.parameters } }

    /// Rows marked deleted (over the whole shared graph).
    public var deletedCount: Int { graph.read { vhnsw_deleted_count($0.handle) } }

    /// Rows not marked deleted (over the whole shared graph).
    public var liveCount: Int { graph.read { $0.ids.count - vhnsw_deleted_count($0.handle) } }

    /// Bytes the graph and its id/time table hold.
    public var byteCount: Int { graph.read { vhnsw_memory_bytes($0.handle) + 16 * $0.ids.capacity } }

    /// The newest row's id (nil when empty).
    public var lastID: Int? { graph.read { $0.ids.last } }

    /// Sets the search breadth ef (and, when given, the exact-fallback row count) for every copy.
    public mutating func setSearchBreadth(_ ef: Int, exactFallbackRows: Int? = nil) {
        precondition(ef >= 1 && (exactFallbackRows ?? 0) >= 0)
        graph.write { state in
            state.parameters.ef = ef
            if let exactFallbackRows { state.parameters.exactFallbackRows = exactFallbackRows }
            vhnsw_set_ef(state.handle, ef)
        }
    }

    /// The ids of the rows not marked deleted (over the whole shared graph), in order.
    public func liveIDs() -> [Int] {
        graph.read { state in
            state.ids.indices.filter { vhnsw_is_deleted(state.handle, UInt64($0)) == 0 }.map { state.ids[$0] }
        }
    }

    public mutating func add(id: Int, time: Double, vector: UnsafeBufferPointer<Float>) {
        precondition(vector.count == dimension, "vector of \(vector.count) values, not \(dimension)")
        let unit = FeatureMath.normalized(vector)
        unit.withUnsafeBufferPointer { addUnit(id: id, time: time, vector: $0) }
    }

    /// Adds a vector that is unit length already (rows moved from another index).
    mutating func addUnit(id: Int, time: Double, vector: UnsafeBufferPointer<Float>) {
        count = graph.write { state in
            precondition(state.ids.count == count, "only the newest copy of an HNSWVectorIndex may add")
            if let last = state.ids.last { precondition(id >= last && time >= state.times.last!, "rows out of order") }
            state.reserve(1)
            let status = vhnsw_add(state.handle, vector.baseAddress!, UInt64(state.ids.count))
            precondition(status == Int32(VHNSW_OK), "HNSW insertion failed: \(HNSWGraph.lastError)")
            state.ids.append(id)
            state.times.append(time)
            return state.ids.count
        }
    }

    /// Adds `ids.count` rows of unit vectors (row r at `vectors[r·dimension…]`) in one batch on `threads` threads
    /// (1: in order, deterministic; more: hnswlib's concurrent insertion). Searches wait until it is done.
    mutating func addUnitBatch(ids: [Int], times: [Double], vectors: UnsafeBufferPointer<Float>, threads: Int) {
        precondition(ids.count == times.count && vectors.count == ids.count * dimension)
        guard !ids.isEmpty else { return }
        count = graph.write { state in
            precondition(state.ids.count == count, "only the newest copy of an HNSWVectorIndex may add")
            let first = state.ids.count
            state.reserve(ids.count)
            let labels = (0..<ids.count).map { UInt64(first + $0) }
            let status = vhnsw_add_batch(
                state.handle, vectors.baseAddress!, dimension, labels, ids.count, Int32(max(1, threads)))
            precondition(status == Int32(VHNSW_OK), "HNSW insertion failed: \(HNSWGraph.lastError)")
            state.ids += ids
            state.times += times
            return state.ids.count
        }
    }

    /// Normalises and adds `ids.count` rows (row r at `vectors[r·dimension…]`) on `threads` threads.
    public mutating func add(ids: [Int], times: [Double], vectors: UnsafeBufferPointer<Float>, threads: Int = 1) {
        precondition(ids.count == times.count && vectors.count == ids.count * dimension)
        var units = [Float](repeating: 0, count: vectors.count)
        for r in 0..<ids.count {
            let unit = FeatureMath.normalized(
                UnsafeBufferPointer(rebasing: vectors[r * dimension..<(r + 1) * dimension]))
            units.replaceSubrange(r * dimension..<(r + 1) * dimension, with: unit)
        }
        units.withUnsafeBufferPointer { addUnitBatch(ids: ids, times: times, vectors: $0, threads: threads) }
    }

    public mutating func remove(_ ids: Set<Int>) {
        guard !ids.isEmpty else { return }
        graph.write { state in
            for id in ids {
                var row = state.firstRow(withIDAtLeast: id)
                while row < state.ids.count && state.ids[row] == id {
                    _ = vhnsw_mark_deleted(state.handle, UInt64(row))
                    row += 1
                }
            }
        }
    }

    public func search(_ query: [Float], k: Int, filter: VectorSearchFilter = VectorSearchFilter()) -> [VectorMatch] {
        precondition(query.count == dimension, "query of \(query.count) values, not \(dimension)")
        guard k > 0, count > 0 else { return [] }
        let unit = query.withUnsafeBufferPointer { FeatureMath.normalized($0) }
        let visible = count
        return graph.read { state in
            let rows = state.admittedRows(filter, visible: visible)
            guard !rows.isEmpty else { return [] }
            if rows.count <= state.parameters.exactFallbackRows || rows.count * 8 < visible {
                return state.exactTopK(unit, k: k, rows: rows, admits: filter.admits)
            }
            var fetch = min(visible, max(k, (k * visible + rows.count - 1) / rows.count + k))
            var labels = [UInt64](repeating: 0, count: fetch)
            var distances = [Float](repeating: 0, count: fetch)
            while true {
                if labels.count < fetch {
                    labels = [UInt64](repeating: 0, count: fetch)
                    distances = [Float](repeating: 0, count: fetch)
                }
                let found = vhnsw_search(state.handle, unit, fetch, &labels, &distances)
                precondition(found >= 0, "HNSW search failed: \(HNSWGraph.lastError)")
                var matches: [VectorMatch] = []
                for i in 0..<found {
                    let row = Int(labels[i])
                    guard rows.contains(row) else { continue }
                    let id = state.ids[row]
                    if let admits = filter.admits, !admits(id) { continue }
                    matches.append(VectorMatch(id: id, score: 1 - distances[i]))
                }
                if matches.count >= k || found < fetch || fetch >= visible {
                    matches.sort { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }
                    return Array(matches.prefix(k))
                }
                fetch = min(visible, fetch * 4)
                if fetch > Self.maxFetch { return state.exactTopK(unit, k: k, rows: rows, admits: filter.admits) }
            }
        }
    }

    /// Candidates beyond which a filtered search scans its range exactly instead.
    static let maxFetch = 4096

    // MARK: - Rows, for TieredVectorIndex

    /// The first row whose id is above `id` (count when none).
    func firstRow(afterID id: Int) -> Int {
        graph.read { state in state.firstRow(withIDAtLeast: id == Int.max ? id : id + 1) }
    }

    /// Row `row`'s id, time, deletion mark and unit vector (copied into `vector`).
    func row(_ row: Int, into vector: inout [Float]) -> (id: Int, time: Double, isDeleted: Bool) {
        precondition(row < count)
        if vector.count != dimension { vector = [Float](repeating: 0, count: dimension) }
        return graph.read { state in
            _ = vector.withUnsafeMutableBufferPointer { vhnsw_vector(state.handle, UInt64(row), $0.baseAddress!) }
            return (state.ids[row], state.times[row], vhnsw_is_deleted(state.handle, UInt64(row)) == 1)
        }
    }

    // MARK: - Files

    /// The sidecar of the index saved at `base`.
    public static func metadataPath(base: String) -> String { base + ".hnsw-meta" }

    /// True when an index was saved at `base`.
    public static func exists(at base: String) -> Bool { access(metadataPath(base: base), F_OK) == 0 }

    /// Saves the whole shared graph (every copy's rows) at `base`; adds wait meanwhile, searches continue.
    public func save(to base: String) throws(MemoryError) {
        try graph.read { (state) throws(MemoryError) in try state.save(to: base) }
    }

    /// Loads the index saved at `base`; throws when it is missing, damaged or of another dimension.
    public static func load(from base: String, dimension: Int) throws(MemoryError) -> HNSWVectorIndex {
        HNSWVectorIndex(graph: try HNSWGraph.load(from: base, dimension: dimension))
    }

    /// Deletes the files of the index saved at `base` (nothing happens when there are none).
    public static func removeFiles(at base: String) throws(MemoryError) {
        for path in HNSWGraph.graphFiles(base: base) { try AtomicFile.remove(path) }
        try AtomicFile.remove(metadataPath(base: base))
    }
}

/// The shared graph of every copy of an HNSWVectorIndex, behind a reader-writer lock.
final class HNSWGraph: @unchecked Sendable {
    // @unchecked: `state` is only touched inside read (shared) or write (exclusive), under `lock`.
    struct State {
        let handle: OpaquePointer
        let dimension: Int
        var parameters: HNSWVectorIndex.Parameters
        var ids: [Int] = []
        var times: [Double] = []
    }

    let dimension: Int
    private var state: State
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    /// The calling thread's last shim error.
    static var lastError: String { String(cString: vhnsw_last_error()) }

    init(dimension: Int, parameters: HNSWVectorIndex.Parameters) throws(MemoryError) {
        var handle: OpaquePointer?
        let status = vhnsw_create(dimension, parameters.m, parameters.efConstruction, 1024, parameters.seed, &handle)
        guard status == Int32(VHNSW_OK), let handle else {
            throw .vectorIndexFailed(detail: "cannot create the HNSW graph: \(Self.lastError)")
        }
        vhnsw_set_ef(handle, parameters.ef)
        self.dimension = dimension
        state = State(handle: handle, dimension: dimension, parameters: parameters)
        lock = Self.makeLock()
    }

    private init(state: State) {
        dimension = state.dimension
        self.state = state
        lock = Self.makeLock()
    }

    deinit {
        vhnsw_free(state.handle)
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    private static func makeLock() -> UnsafeMutablePointer<pthread_rwlock_t> {
        // Writers first: with readers searching back to back, a default (reader-first) lock could starve the adds.
        let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        let status = pthread_rwlock_init(lock, &attributes)
        pthread_rwlockattr_destroy(&attributes)
        precondition(status == 0, "pthread_rwlock_init failed: \(status)")
        return lock
    }

    /// Runs `body` with shared access.
    func read<Result, E: Error>(_ body: (State) throws(E) -> Result) throws(E) -> Result {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(state)
    }

    /// Runs `body` with exclusive access.
    func write<Result>(_ body: (inout State) -> Result) -> Result {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return body(&state)
    }

    // MARK: - Files

    private static let magic = Array("VGHNSWM1".utf8)

    /// The graph files of every generation saved at `base`.
    static func graphFiles(base: String) -> [String] {
        let url = URL(fileURLWithPath: base)
        let folder = url.deletingLastPathComponent().path
        let prefix = url.lastPathComponent + ".hnsw-"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { ($0.hasPrefix(prefix) && $0 != prefix + "meta") || $0.hasPrefix("." + prefix) }
            .map { folder + "/" + $0 }
    }

    static func load(from base: String, dimension: Int) throws(MemoryError) -> HNSWGraph {
        let metaPath = HNSWVectorIndex.metadataPath(base: base)
        let bytes = try AtomicFile.read(metaPath)
        func corrupt(_ detail: String) -> MemoryError { .corruptVectorIndex(path: metaPath, detail: detail) }
        guard bytes.count >= 12, Array(bytes.prefix(8)) == magic else {
            throw corrupt("it does not start with an HNSW index header")
        }
        let crc = bytes.withUnsafeBytes {
            FeatureMath.crc32c(UnsafeRawBufferPointer(rebasing: $0[0..<bytes.count - 4]))
        }
        let stored = bytes.suffix(4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard crc == stored else { throw corrupt("its checksum fails") }
        let sidecar: Sidecar
        do {
            sidecar = try Sidecar(ByteReader(bytes: Array(bytes.dropLast(4)), offset: 8))
        } catch .corruptSynopsisState {
            throw corrupt("it is truncated")
        } catch {
            throw error
        }
        guard sidecar.version == 1 else { throw corrupt("unknown format version \(sidecar.version)") }
        guard sidecar.dimension == dimension else {
            throw .foreignVectorIndex(
                path: metaPath, detail: "it holds \(sidecar.dimension)-value keys, this memory \(dimension)-value ones")
        }
        guard sidecar.tableMatches else { throw corrupt("its row table does not match its row count") }
        guard sidecar.isOrdered else { throw corrupt("its rows are out of order") }
        let (parameters, generation, graphBytes, graphCRC, ids, times) = (
            sidecar.parameters, sidecar.generation, sidecar.graphBytes, sidecar.graphCRC, sidecar.ids, sidecar.times
        )
        let rows = ids.count
        let graphPath = base + ".hnsw-" + hex(generation)
        var handle: OpaquePointer?
        let status = vhnsw_load(graphPath, dimension, graphBytes, graphCRC, max(1024, rows + rows / 2), &handle)
        guard status == Int32(VHNSW_OK), let handle else {
            let detail = lastError
            switch Int(status) {
            case Int(VHNSW_ERROR_CORRUPT): throw .corruptVectorIndex(path: graphPath, detail: detail)
            case Int(VHNSW_ERROR_IO): throw .readFailed(path: graphPath, reason: detail)
            default: throw .vectorIndexFailed(detail: "cannot load \(graphPath): \(detail)")
            }
        }
        guard vhnsw_count(handle) == rows else {
            vhnsw_free(handle)
            throw .corruptVectorIndex(path: graphPath, detail: "it holds another number of rows than its sidecar")
        }
        vhnsw_set_ef(handle, parameters.ef)
        var state = State(handle: handle, dimension: dimension, parameters: parameters)
        state.ids = ids
        state.times = times
        return HNSWGraph(state: state)
    }

    /// The parsed sidecar (every field after the magic, before the final CRC).
    private struct Sidecar {
        var version: UInt32 = 0
        var dimension = 0
        var parameters = HNSWVectorIndex.Parameters()
        var generation: UInt64 = 0
        var graphBytes: UInt64 = 0
        var graphCRC: UInt32 = 0
        var ids: [Int] = []
        var times: [Double] = []
        var tableMatches = false
        var isOrdered = true

        init(_ reader: ByteReader) throws(MemoryError) {
            var input = reader
            version = try input.u32()
            guard version == 1 else { return }
            dimension = Int(try input.u32())
            parameters.m = Int(try input.u32())
            parameters.efConstruction = Int(try input.u32())
            parameters.ef = Int(try input.u32())
            parameters.exactFallbackRows = Int(try input.u32())
            parameters.seed = try input.u64()
            generation = try input.u64()
            graphBytes = try input.u64()
            graphCRC = try input.u32()
            let rows = try input.i64()
            tableMatches = rows >= 0 && rows <= Int(UInt32.max) && input.bytes.count - input.offset == rows * 16
            guard tableMatches else { return }
            ids = [Int](repeating: 0, count: rows)
            times = [Double](repeating: 0, count: rows)
            for r in 0..<rows {
                ids[r] = try input.i64()
                times[r] = try input.f64()
                if r > 0, ids[r] < ids[r - 1] || !(times[r] >= times[r - 1]) { isOrdered = false }
            }
        }
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

extension HNSWGraph.State {
    /// Makes room for `extra` more rows (doubling).
    mutating func reserve(_ extra: Int) {
        let needed = ids.count + extra
        let capacity = vhnsw_capacity(handle)
        guard needed > capacity else { return }
        let status = vhnsw_resize(handle, max(needed, 2 * capacity))
        precondition(status == Int32(VHNSW_OK), "HNSW resize failed: \(HNSWGraph.lastError)")
    }

    /// The first row whose id is at least `id`.
    func firstRow(withIDAtLeast id: Int) -> Int { partition(ids.count) { ids[$0] < id } }

    /// The label range the id and time bounds admit among the first `visible` rows.
    func admittedRows(_ filter: VectorSearchFilter, visible: Int) -> Range<Int> {
        var upper = visible
        if let maxID = filter.maxID { upper = min(upper, partition(visible) { ids[$0] <= maxID }) }
        if let maxTime = filter.maxTime { upper = min(upper, partition(visible) { times[$0] <= maxTime }) }
        var lower = 0
        if let minTime = filter.minTime { lower = partition(visible) { times[$0] < minTime } }
        return lower < upper ? lower..<upper : 0..<0
    }

    /// The number of leading rows below `end` for which `isLeading` holds (it must hold for a prefix).
    private func partition(_ end: Int, _ isLeading: (Int) -> Bool) -> Int {
        var low = 0
        var high = end
        while low < high {
            let mid = (low + high) / 2
            if isLeading(mid) { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Exact top k of `rows` over the graph's stored vectors (deleted rows skipped), best first, ties to lower ids.
    func exactTopK(_ unit: [Float], k: Int, rows: Range<Int>, admits: (@Sendable (Int) -> Bool)?) -> [VectorMatch] {
        var best: [VectorMatch] = []
        var scores = [Float](repeating: 0, count: 1024)
        var row = rows.lowerBound
        while row < rows.upperBound {
            let n = min(1024, rows.upperBound - row)
            _ = scores.withUnsafeMutableBufferPointer { vhnsw_scores(handle, unit, UInt64(row), n, $0.baseAddress!) }
            for offset in 0..<n {
                let score = scores[offset]
                guard !score.isNaN else { continue }
                if best.count == k, !(score > best[k - 1].score) { continue }
                let id = ids[row + offset]
                if let admits, !admits(id) { continue }
                let position = best.firstIndex { $0.score < score } ?? best.count
                best.insert(VectorMatch(id: id, score: score), at: position)
                if best.count > k { best.removeLast() }
            }
            row += n
        }
        return best
    }

    /// Writes the graph under a new generation, then the sidecar, then deletes older generations.
    func save(to base: String) throws(MemoryError) {
        let url = URL(fileURLWithPath: base)
        let folder = url.deletingLastPathComponent().path
        let generation = UInt64.random(in: 0...UInt64.max)
        let graphPath = base + ".hnsw-" + HNSWGraph.hex(generation)
        let temporary = folder + "/." + url.lastPathComponent + ".hnsw-" + HNSWGraph.hex(generation) + ".tmp"
        var bytes: UInt64 = 0
        var crc: UInt32 = 0
        let status = vhnsw_save(handle, temporary, &bytes, &crc)
        guard status == Int32(VHNSW_OK) else {
            unlink(temporary)
            throw .writeFailed(path: graphPath, reason: HNSWGraph.lastError)
        }
        guard rename(temporary, graphPath) == 0 else {
            let reason = systemError()
            unlink(temporary)
            throw .writeFailed(path: graphPath, reason: reason)
        }
        var out = ByteWriter()
        out.bytes += Array("VGHNSWM1".utf8)
        out.u32(1)
        out.u32(UInt32(dimension))
        out.u32(UInt32(parameters.m))
        out.u32(UInt32(parameters.efConstruction))
        out.u32(UInt32(parameters.ef))
        out.u32(UInt32(parameters.exactFallbackRows))
        out.u64(parameters.seed)
        out.u64(generation)
        out.u64(bytes)
        out.u32(crc)
        out.i64(ids.count)
        out.bytes.reserveCapacity(out.bytes.count + 16 * ids.count + 4)
        for r in ids.indices {
            out.i64(ids[r])
            out.f64(times[r])
        }
        out.u32(out.bytes.withUnsafeBytes { FeatureMath.crc32c($0) })
        try AtomicFile.write(out.bytes, to: HNSWVectorIndex.metadataPath(base: base))
        for old in HNSWGraph.graphFiles(base: base) where old != graphPath { unlink(old) }
        AtomicFile.syncDirectory(of: graphPath)
    }
}
