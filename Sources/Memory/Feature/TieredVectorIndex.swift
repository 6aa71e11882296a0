// The global-key index FeatureMemory uses: exact (ExactVectorIndex) up to `threshold` rows, an HNSW graph
// (HNSWVectorIndex) beyond it. The switch never interrupts search: the graph is built beside the exact index, a few
// rows per add, and serves only once it holds every row.
//
//   phase        serves  being built                       when
//   exact        exact   —                                 fewer than `threshold` rows
//   building     exact   a graph ← the exact rows          from the add that reaches `threshold`; each add moves
//                                                          `migrationBatch` rows (or `buildStep`/`finishBuilding`)
//   graph        graph   —                                 the graph caught up: it serves, the exact rows go
//   rebuilding   graph   a graph ← the live rows           removals left more deleted rows than live ones
//   (a graph whose live rows fall below threshold / 2 goes back to exact at once)
//
// Why 100,000 by default: the memory brief (§5) measured exact search over 100k 576-value keys at ~8 ms and puts
// the break-even near 10⁶, but exact cost grows linearly (≈ 80 ms at 10⁶ on two cores) while HNSW stays ≈ 1 ms, and
// a live session at 1 fps reaches 100k frames after ~28 hours; past that point the graph's memory (≈ 2.6 KB per
// row at 576 values, about 10% over the exact rows) is worth the flat search time. Set it to Int.max for exact
// search always, or lower it for tests.
//
// Ids must strictly increase (frame numbers); times must not decrease.

/// Exact global-key search up to a threshold, HNSW beyond it; switches without a gap.
public struct TieredVectorIndex: VectorIndex {
    /// When and how the graph is built.
    public struct Configuration: Sendable, Hashable {
        /// Rows from which the graph is built (default 100,000).
        public var threshold: Int
        /// The graph's settings.
        public var hnsw: HNSWVectorIndex.Parameters
        /// Rows moved into a graph being built on every add (default 8: ≈ 10–25 ms of one core per add at the
        /// default graph settings, so a 100,000-row backlog catches up within ~14,000 adds — four hours at 1 fps —
        /// while the exact index keeps serving; `FeatureMemory.advanceGlobalKeyIndex(rows:)` moves more when idle).
        public var migrationBatch: Int

        /// A configuration; the defaults are documented in docs/memory.md.
        public init(
            threshold: Int = 100_000, hnsw: HNSWVectorIndex.Parameters = HNSWVectorIndex.Parameters(),
            migrationBatch: Int = 8
        ) {
            self.threshold = threshold
            self.hnsw = hnsw
            self.migrationBatch = migrationBatch
        }

        func validate() throws(MemoryError) {
            try hnsw.validate()
            guard threshold >= 1, migrationBatch >= 1 else {
                throw .invalidFeatureSetting(
                    setting: "global-key index",
                    detail: "threshold \(threshold) and migration batch "
                        + "\(migrationBatch) must be ≥ 1")
            }
        }
    }

    /// What serves searches and what is being built.
    public enum Phase: Sendable, Hashable {
        /// Exact search; no graph.
        case exact
        /// Exact search while a graph takes the exact rows (`moved` of about `of`).
        case building(moved: Int, of: Int)
        /// HNSW search.
        case graph
        /// HNSW search while a fresh graph takes the live rows (`moved` of about `of`).
        case rebuilding(moved: Int, of: Int)
    }

    public let dimension: Int
    /// The settings.
    public let configuration: Configuration
    private(set) var exact: ExactVectorIndex?
    private(set) var graph: HNSWVectorIndex?
    private(set) var next: HNSWVectorIndex?
    /// The id of the last source row `next` has taken (or skipped as deleted).
    private var cursorID: Int?

    /// An empty index (exact).
    public init(dimension: Int, configuration: Configuration = Configuration()) {
        precondition(dimension > 0)
        self.dimension = dimension
        self.configuration = configuration
        exact = ExactVectorIndex(dimension: dimension)
    }

    private init(dimension: Int, configuration: Configuration, graph: HNSWVectorIndex) {
        self.dimension = dimension
        self.configuration = configuration
        self.graph = graph
    }

    /// Rows of the serving index (removed rows included until compaction).
    public var count: Int { graph?.count ?? exact?.count ?? 0 }

    /// The newest row's id (nil when empty).
    public var lastID: Int? {
        if let graph { return graph.lastID }
        return exact?.lastID
    }

    /// The current phase.
    public var phase: Phase {
        switch (graph, next) {
        case (nil, nil): return .exact
        case (nil, let next?): return .building(moved: next.count, of: exact?.count ?? 0)
        case (_?, nil): return .graph
        case (let graph?, let next?): return .rebuilding(moved: next.count, of: graph.liveCount)
        }
    }

    /// Bytes held by the exact rows and the graphs.
    public var byteCount: Int { (exact?.byteCount ?? 0) + (graph?.byteCount ?? 0) + (next?.byteCount ?? 0) }

    public mutating func add(id: Int, time: Double, vector: UnsafeBufferPointer<Float>) {
        add(id: id, time: time, vector: vector, migrating: true)
    }

    /// Adds a row; with `migrating` false the add moves no rows into a graph being built (bulk replays).
    mutating func add(id: Int, time: Double, vector: UnsafeBufferPointer<Float>, migrating: Bool) {
        if let last = lastID { precondition(id > last, "ids must increase: \(id) after \(last)") }
        if graph != nil {
            graph!.add(id: id, time: time, vector: vector)
        } else {
            exact!.add(id: id, time: time, vector: vector)
            if next == nil, exact!.count >= configuration.threshold { startBuilding() }
        }
        if migrating, next != nil { buildStep(rows: configuration.migrationBatch) }
    }

    public mutating func remove(_ ids: Set<Int>) {
        guard !ids.isEmpty else { return }
        if graph != nil { graph!.remove(ids) } else { exact!.remove(ids) }
        next?.remove(ids)
        if let graph {
            let live = graph.liveCount
            if live < configuration.threshold / 2 {
                revertToExact()
            } else if next == nil, graph.deletedCount > live {
                startBuilding()
            }
        } else if next != nil, exact!.count < configuration.threshold / 2 {
            next = nil
            cursorID = nil
        }
    }

    public func search(_ query: [Float], k: Int, filter: VectorSearchFilter = VectorSearchFilter()) -> [VectorMatch] {
        if let graph { return graph.search(query, k: k, filter: filter) }
        return exact!.search(query, k: k, filter: filter)
    }

    /// Moves up to `rows` rows into the graph being built and switches to it once it holds every row; returns the
    /// rows examined (0 when nothing is being built).
    @discardableResult
    public mutating func buildStep(rows: Int) -> Int {
        guard next != nil else { return 0 }
        var examined = 0
        if let graph {
            var vector: [Float] = []
            var row = cursorID.map { graph.firstRow(afterID: $0) } ?? 0
            while examined < rows && row < graph.count {
                let source = graph.row(row, into: &vector)
                if !source.isDeleted {
                    vector.withUnsafeBufferPointer { next!.addUnit(id: source.id, time: source.time, vector: $0) }
                }
                cursorID = source.id
                row += 1
                examined += 1
            }
            if row == graph.count { finishSwitch() }
        } else {
            let source = exact!
            var row = cursorID.map { source.firstRow(afterID: $0) } ?? 0
            while examined < rows && row < source.count {
                let (id, time, vector) = source.row(row)
                next!.addUnit(id: id, time: time, vector: vector)
                cursorID = id
                row += 1
                examined += 1
            }
            if row == source.count { finishSwitch() }
        }
        return examined
    }

    /// Finishes the graph being built at once, inserting the remaining rows on `threads` threads (more than one:
    /// hnswlib's concurrent insertion, not deterministic). For catching up a long backlog, e.g. after reopening a
    /// bank whose saved graph was lost.
    public mutating func finishBuilding(threads: Int) {
        guard next != nil else { return }
        guard graph == nil, threads > 1 else {
            while next != nil { buildStep(rows: 4096) }
            return
        }
        let source = exact!
        var row = cursorID.map { source.firstRow(afterID: $0) } ?? 0
        while row < source.count {
            let end = min(source.count, row + 65_536)
            var ids: [Int] = []
            var times: [Double] = []
            var vectors: [Float] = []
            vectors.reserveCapacity((end - row) * dimension)
            for r in row..<end {
                let (id, time, vector) = source.row(r)
                ids.append(id)
                times.append(time)
                vectors.append(contentsOf: vector)
            }
            vectors.withUnsafeBufferPointer {
                next!.addUnitBatch(ids: ids, times: times, vectors: $0, threads: threads)
            }
            cursorID = ids.last
            row = end
        }
        finishSwitch()
    }

    private mutating func startBuilding() {
        do {
            next = try HNSWVectorIndex(dimension: dimension, parameters: configuration.hnsw)
        } catch {
            preconditionFailure("\(error)")  // validated parameters: only an allocation failure gets here
        }
        cursorID = nil
    }

    private mutating func finishSwitch() {
        graph = next
        exact = nil
        next = nil
        cursorID = nil
    }

    private mutating func revertToExact() {
        guard let graph else { return }
        var rebuilt = ExactVectorIndex(dimension: dimension)
        var vector: [Float] = []
        for row in 0..<graph.count {
            let source = graph.row(row, into: &vector)
            guard !source.isDeleted else { continue }
            vector.withUnsafeBufferPointer { rebuilt.appendUnit(id: source.id, time: source.time, vector: $0) }
        }
        exact = rebuilt
        self.graph = nil
        next = nil
        cursorID = nil
    }

    // MARK: - Files

    /// Saves the serving graph at `base` (see HNSWVectorIndex for the files); in the exact phases, deletes any
    /// graph saved there before (the exact rows are rebuilt from the bank on reopening).
    public func save(to base: String) throws(MemoryError) {
        if let graph {
            try graph.save(to: base)
        } else {
            try HNSWVectorIndex.removeFiles(at: base)
        }
    }

    /// The index saved at `base` (serving its graph, with `configuration`'s search settings), or nil when none was
    /// saved; throws when the files are damaged or of another dimension.
    public static func load(from base: String, dimension: Int, configuration: Configuration = Configuration())
        throws(MemoryError) -> TieredVectorIndex?
    {
        guard HNSWVectorIndex.exists(at: base) else { return nil }
        var graph = try HNSWVectorIndex.load(from: base, dimension: dimension)
        graph.setSearchBreadth(configuration.hnsw.ef, exactFallbackRows: configuration.hnsw.exactFallbackRows)
        return TieredVectorIndex(dimension: dimension, configuration: configuration, graph: graph)
    }

    /// The ids of the serving index's live rows, in order.
    func liveIDs() -> [Int] {
        if let graph { return graph.liveIDs() }
        var ids: [Int] = []
        exact?.forEachRow { id, _, _ in ids.append(id) }
        return ids
    }
}
