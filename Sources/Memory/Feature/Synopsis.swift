// The synopsis (../shared/briefs/memory.md §6.2, "Synopsis update rule"): at most K weighted clusters of every frame
// seen, each keeping running sums so that its prompt item — the weighted mean of its members' full tokens, F/w —
// is exact however many frames it holds.
//
//   cluster c:  w (frames)   S = Σ k_f [Kt·H]   F = Σ E_f [T·H] (fp32)   T = Σ t   t_min, t_max   members (ranges)
//   μ_c = S/w (the key centroid)
//
// Update for a new frame x with key k_x (mode .ward, the default; deterministic):
//   1. fewer than K clusters: open {x};
//   2. else absorb cost Δa = min_c w_c/(w_c+1)·‖k_x − μ_c‖² (the exact SSE increase of adding x to c) and merge
//      cost Δm = min_{i<j} w_i·w_j/(w_i+w_j)·‖μ_i − μ_j‖² (Ward's criterion: the exact SSE increase of merging);
//   3. Δa ≤ Δm: absorb x into the cheapest c; else merge the cheapest pair (sum every field, unite members) and
//      open {x} in the freed slot.
// The brief picks c as the nearest centroid; we take the cheapest absorb instead (the same rule whenever weights
// are equal), which makes step 3 compare two exact SSE increases and so is the greedy step of the weighted k-means
// objective. Ties go to the lowest slot, so the result depends only on the input.
//
// Cost: the K×K merge costs are cached and only the rows of changed clusters are recomputed: O(K·D) per frame with
// D = Kt·H (K = 12, D = 9,216 for SmolVLM2-256M), plus O(T·H) to add E_f to F.
//
// Mode .contiguous keeps clusters as consecutive stretches of time: a frame can only join the newest cluster and
// only neighbours in time merge (event segments aligned with the text memory's clips). Mode .reference reproduces
// Flash-VStream-Qwen's weighted k-means (ReferenceKMeans.swift).
//
// A read may ask for fewer blocks than clusters (question classes, §6.5): `reduced(to:)` merges the cheapest pairs
// (Ward on S/w; neighbours only in contiguous mode) of a copy, so every frame stays represented and Σ w is kept.

/// One synopsis cluster: its weight, running sums, time span and members.
public struct SynopsisCluster: Sendable, Equatable {
    /// Frames represented (w).
    public internal(set) var weight: Int
    /// Σ k_f over members ([Kt×H]).
    public internal(set) var keySum: [Float]
    /// Σ E_f over members ([T×H], fp32).
    public internal(set) var fullSum: [Float]
    /// Σ t over members (seconds).
    public internal(set) var timeSum: Double
    /// The earliest member's time (t_min).
    public internal(set) var start: Double
    /// The latest member's time (t_max).
    public internal(set) var end: Double
    /// The member frame ids.
    public internal(set) var members: MemberList
    /// Reference mode only: the k-means centroid Flash-VStream carries forward (not exactly S/w).
    public internal(set) var referenceCentroid: [Float]?

    /// A cluster of one frame.
    init(id: Int, time: Double, features: FrameFeatures, keepsCentroid: Bool) {
        weight = 1
        keySum = features.key
        fullSum = features.tokens
        timeSum = time
        start = time
        end = time
        members = MemberList()
        members.append(id)
        referenceCentroid = keepsCentroid ? features.key : nil
    }

    /// A cluster from saved fields.
    init(
        weight: Int, keySum: [Float], fullSum: [Float], timeSum: Double, start: Double, end: Double,
        members: MemberList, referenceCentroid: [Float]?
    ) {
        self.weight = weight
        self.keySum = keySum
        self.fullSum = fullSum
        self.timeSum = timeSum
        self.start = start
        self.end = end
        self.members = members
        self.referenceCentroid = referenceCentroid
    }

    /// The weighted mean time of the members (blocks are ordered by it).
    public var meanTime: Double { timeSum / Double(weight) }
    /// The key centroid: S/w, or in reference mode the carried k-means centroid.
    public var centroid: [Float] { referenceCentroid ?? meanKey }
    /// S/w.
    public var meanKey: [Float] { FeatureMath.divided(keySum, by: Float(weight)) }
    /// F/w: the exact mean of the members' full tokens ([T×H]), the cluster's prompt item.
    public var meanTokens: [Float] { FeatureMath.divided(fullSum, by: Float(weight)) }

    /// Adds a frame.
    mutating func absorb(id: Int, time: Double, features: FrameFeatures) {
        weight += 1
        FeatureMath.add(features.key, to: &keySum)
        FeatureMath.add(features.tokens, to: &fullSum)
        timeSum += time
        start = min(start, time)
        end = max(end, time)
        members.append(id)
    }

    /// Adds every frame of `other` (disjoint members); the result carries no reference centroid.
    mutating func absorb(_ other: SynopsisCluster) {
        weight += other.weight
        FeatureMath.add(other.keySum, to: &keySum)
        FeatureMath.add(other.fullSum, to: &fullSum)
        timeSum += other.timeSum
        start = min(start, other.start)
        end = max(end, other.end)
        members.formUnion(other.members)
        referenceCentroid = nil
    }

    /// Bytes held by the sums and member list.
    var byteCount: Int { 4 * (keySum.count + fullSum.count + (referenceCentroid?.count ?? 0)) + members.byteCount + 64 }
}

/// The bounded synopsis of a stream: at most K clusters, updated once per frame.
public struct Synopsis: Sendable {
    /// How clusters are formed.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// Greedy Ward: absorb or merge-and-open, whichever adds less squared error (the default).
        case ward
        /// Ward restricted to neighbours in time: clusters are consecutive stretches.
        case contiguous
        /// Flash-VStream-Qwen's `weighted_kmeans_ordered_feature` over old centroids ∪ the new frame.
        case reference
    }

    /// The synopsis settings.
    public struct Configuration: Sendable, Hashable {
        /// K, the most clusters kept (default 12).
        public var clusterCount: Int
        /// The update rule.
        public var mode: Mode
        /// Reference mode: most Lloyd iterations per update (Flash-VStream: 10).
        public var maxIterations: Int
        /// Reference mode: stop when the centroids' shifts sum below this (Flash-VStream: 1e-4).
        public var tolerance: Double
        /// Reference mode: seed of the random-unique initialisation.
        public var seed: UInt64

        /// Settings; the defaults are the brief's.
        public init(
            clusterCount: Int = 12, mode: Mode = .ward, maxIterations: Int = 10, tolerance: Double = 1e-4,
            seed: UInt64 = 0
        ) {
            self.clusterCount = clusterCount
            self.mode = mode
            self.maxIterations = maxIterations
            self.tolerance = tolerance
            self.seed = seed
        }

        func validate() throws(MemoryError) {
            guard clusterCount >= 1, clusterCount <= 4096 else {
                throw .invalidFeatureSetting(setting: "cluster count", detail: "\(clusterCount) is not in 1...4096")
            }
            guard maxIterations >= 1, tolerance >= 0, tolerance.isFinite else {
                throw .invalidFeatureSetting(
                    setting: "reference k-means",
                    detail: "\(maxIterations) iterations, tolerance \(tolerance): need ≥ 1 and ≥ 0")
            }
        }
    }

    /// The settings.
    public let configuration: Configuration
    /// The frames' geometry.
    public let geometry: FeatureGeometry
    /// The clusters: slot order in .ward mode, time order in .contiguous and .reference modes.
    public private(set) var clusters: [SynopsisCluster] = []
    /// Frames added (Σ w).
    public private(set) var frameCount = 0
    /// Reference mode: how the initial centroids are chosen (seeded random-unique unless injected).
    public var initializer: any ReferenceInitializer
    /// Reference mode: the Lloyd iterations the last update ran (nil when it did not cluster).
    public private(set) var lastIterationCount: Int?

    /// μ per slot (.ward, .contiguous).
    private var centroids: [[Float]] = []
    /// .ward: K×K merge costs, row-major; .contiguous: cost of (p, p+1) at p.
    private var costs: [Double] = []

    /// An empty synopsis.
    public init(configuration: Configuration = Configuration(), geometry: FeatureGeometry) throws(MemoryError) {
        try configuration.validate()
        self.configuration = configuration
        self.geometry = geometry
        initializer = SeededReferenceInitializer(seed: configuration.seed)
        if configuration.mode == .ward {
            costs = [Double](repeating: .infinity, count: configuration.clusterCount * configuration.clusterCount)
        }
    }

    /// Adds one frame (ids and times increasing).
    public mutating func add(id: Int, time: Double, features: FrameFeatures) {
        precondition(features.key.count == geometry.keyValueCount, "key of the wrong size")
        frameCount += 1
        switch configuration.mode {
        case .ward: addWard(id: id, time: time, features: features)
        case .contiguous: addContiguous(id: id, time: time, features: features)
        case .reference: addReference(id: id, time: time, features: features)
        }
    }

    /// Bytes held: clusters, centroid cache, cost matrix.
    public var byteCount: Int {
        clusters.reduce(0) { $0 + $1.byteCount } + centroids.reduce(0) { $0 + 4 * $1.count } + 8 * costs.count
    }

    // MARK: - Ward

    private var k: Int { configuration.clusterCount }

    private func mergeCost(_ a: Int, _ b: Int) -> Double {
        let wa = Double(clusters[a].weight)
        let wb = Double(clusters[b].weight)
        return wa * wb / (wa + wb) * Double(FeatureMath.squaredDistance(centroids[a], centroids[b]))
    }

    private mutating func updateRow(_ c: Int) {
        for other in clusters.indices where other != c {
            let cost = mergeCost(c, other)
            costs[c * k + other] = cost
            costs[other * k + c] = cost
        }
    }

    /// The slot whose absorb cost is least among `slots`, and that cost.
    private func cheapestAbsorb(_ key: [Float], among slots: some Sequence<Int>) -> (slot: Int, cost: Double) {
        var best = (slot: -1, cost: Double.infinity)
        for slot in slots {
            let w = Double(clusters[slot].weight)
            let cost = w / (w + 1) * Double(FeatureMath.squaredDistance(key, centroids[slot]))
            if cost < best.cost || best.slot < 0 { best = (slot, cost) }
        }
        return best
    }

    private mutating func addWard(id: Int, time: Double, features: FrameFeatures) {
        if clusters.count < k {
            clusters.append(SynopsisCluster(id: id, time: time, features: features, keepsCentroid: false))
            centroids.append(features.key)
            updateRow(clusters.count - 1)
            return
        }
        let absorb = cheapestAbsorb(features.key, among: clusters.indices)
        var pair = (i: -1, j: -1, cost: Double.infinity)
        for i in 0..<k {
            for j in (i + 1)..<k where costs[i * k + j] < pair.cost { pair = (i, j, costs[i * k + j]) }
        }
        if pair.i < 0 || absorb.cost <= pair.cost {
            clusters[absorb.slot].absorb(id: id, time: time, features: features)
            centroids[absorb.slot] = clusters[absorb.slot].meanKey
            updateRow(absorb.slot)
        } else {
            let moved = clusters[pair.j]
            clusters[pair.i].absorb(moved)
            centroids[pair.i] = clusters[pair.i].meanKey
            clusters[pair.j] = SynopsisCluster(id: id, time: time, features: features, keepsCentroid: false)
            centroids[pair.j] = features.key
            updateRow(pair.i)
            updateRow(pair.j)
        }
    }

    // MARK: - Contiguous

    private mutating func setAdjacentCost(_ p: Int) {
        let cost = mergeCost(p, p + 1)
        if p < costs.count { costs[p] = cost } else { costs.append(cost) }
    }

    private mutating func addContiguous(id: Int, time: Double, features: FrameFeatures) {
        let open = { (synopsis: inout Synopsis) in
            synopsis.clusters.append(SynopsisCluster(id: id, time: time, features: features, keepsCentroid: false))
            synopsis.centroids.append(features.key)
            if synopsis.clusters.count > 1 { synopsis.setAdjacentCost(synopsis.clusters.count - 2) }
        }
        if clusters.count < k {
            open(&self)
            return
        }
        let last = clusters.count - 1
        let absorb = cheapestAbsorb(features.key, among: [last])
        var pair = (p: -1, cost: Double.infinity)
        for p in costs.indices where costs[p] < pair.cost { pair = (p, costs[p]) }
        if pair.p < 0 || absorb.cost <= pair.cost {
            clusters[last].absorb(id: id, time: time, features: features)
            centroids[last] = clusters[last].meanKey
            if last > 0 { setAdjacentCost(last - 1) }
        } else {
            let p = pair.p
            clusters[p].absorb(clusters.remove(at: p + 1))
            centroids.remove(at: p + 1)
            centroids[p] = clusters[p].meanKey
            costs.remove(at: p)  // the merged pair's cost; costs[p] is now (p, p + 1) again
            if p > 0 { setAdjacentCost(p - 1) }
            if p < clusters.count - 1 { setAdjacentCost(p) }
            open(&self)
        }
    }

    // MARK: - Reference

    private mutating func addReference(id: Int, time: Double, features: FrameFeatures) {
        let frame = SynopsisCluster(id: id, time: time, features: features, keepsCentroid: true)
        if clusters.count + 1 <= k {
            clusters.append(frame)  // ≤ K rows: Flash-VStream passes them through; the new frame is the latest
            lastIterationCount = nil
            return
        }
        let result = ReferenceKMeans.cluster(
            rows: clusters + [frame], k: k, maxIterations: configuration.maxIterations,
            tolerance: configuration.tolerance, frame: id, initializer: &initializer)
        clusters = result.clusters
        lastIterationCount = result.iterations
    }

    // MARK: - Restoring

    /// A synopsis continuing from `state`: the same clusters, and caches recomputed exactly as the updates computed
    /// them, so it goes on bit for bit as the one that was saved.
    public init(restoring state: SynopsisState) throws(MemoryError) {
        try self.init(configuration: state.configuration, geometry: state.geometry)
        for cluster in state.clusters {
            guard cluster.keySum.count == geometry.keyValueCount, cluster.fullSum.count == geometry.frameValueCount,
                cluster.weight > 0, cluster.referenceCentroid.map({ $0.count == geometry.keyValueCount }) ?? true
            else { throw .corruptSynopsisState(detail: "a cluster's sizes do not match \(geometry)") }
        }
        var weights = 0
        var overflow = false
        for cluster in state.clusters where !overflow {
            (weights, overflow) = weights.addingReportingOverflow(cluster.weight)
        }
        guard state.clusters.count <= configuration.clusterCount, !overflow, weights == state.frameCount else {
            throw .corruptSynopsisState(detail: "its cluster weights do not add up to its frame count")
        }
        clusters = state.clusters
        frameCount = state.frameCount
        if let random = state.randomState { initializer = SeededReferenceInitializer(state: random) }
        switch configuration.mode {
        case .ward:
            centroids = clusters.map(\.meanKey)
            for c in clusters.indices { updateRow(c) }
        case .contiguous:
            centroids = clusters.map(\.meanKey)
            for p in 0..<max(0, clusters.count - 1) { setAdjacentCost(p) }
        case .reference:
            break
        }
    }

    /// Everything needed to continue this synopsis later (`init(restoring:)`); serialise it with `serialized()`.
    public var state: SynopsisState {
        SynopsisState(
            configuration: configuration, geometry: geometry, frameCount: frameCount, clusters: clusters,
            randomState: (initializer as? SeededReferenceInitializer)?.state)
    }

    // MARK: - Reading fewer blocks

    /// `clusters` merged down to at most `count` (cheapest Ward merges on S/w first; only neighbours in time when
    /// `neighboursOnly`), time-ordered. Σ w is kept; no input is changed.
    public static func reduced(_ clusters: [SynopsisCluster], to count: Int, neighboursOnly: Bool)
        -> [SynopsisCluster]
    {
        var items = clusters.sorted { $0.meanTime < $1.meanTime }
        guard count > 0 else { return [] }
        guard items.count > count else { return items }
        var keySums = items.map(\.keySum)
        var weights = items.map { Double($0.weight) }
        var groups = items.indices.map { [$0] }
        var means = items.map(\.meanKey)
        func cost(_ a: Int, _ b: Int) -> Double {
            weights[a] * weights[b] / (weights[a] + weights[b])
                * Double(FeatureMath.squaredDistance(means[a], means[b]))
        }
        var table = [[Double]](repeating: [], count: items.count)
        for a in items.indices { table[a] = items.indices.map { b in b > a ? cost(a, b) : .infinity } }
        while groups.count > count {
            var best = (a: -1, b: -1, cost: Double.infinity)
            for a in groups.indices {
                let partners = neighboursOnly ? (a + 1..<min(a + 2, groups.count)) : (a + 1..<groups.count)
                for b in partners where table[a][b] < best.cost || best.a < 0 { best = (a, b, table[a][b]) }
            }
            let (a, b) = (best.a, best.b)
            FeatureMath.add(keySums[b], to: &keySums[a])
            weights[a] += weights[b]
            means[a] = FeatureMath.divided(keySums[a], by: Float(weights[a]))
            groups[a] += groups[b]
            keySums.remove(at: b)
            weights.remove(at: b)
            means.remove(at: b)
            groups.remove(at: b)
            table.remove(at: b)
            for row in table.indices { table[row].remove(at: b) }
            for other in groups.indices where other != a {
                let value = cost(min(a, other), max(a, other))
                table[min(a, other)][max(a, other)] = value
            }
        }
        items = groups.map { group in
            var merged = items[group[0]]
            for index in group.dropFirst() { merged.absorb(items[index]) }
            return merged
        }
        return items.sorted { $0.meanTime < $1.meanTime }
    }
}

/// A 64-bit generator with a state that can be saved (SplitMix64).
struct SplitMix64: Sendable, Hashable {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (Lemire's multiply-shift, unbiased).
    mutating func next(below bound: Int) -> Int {
        precondition(bound > 0)
        let range = UInt64(bound)
        while true {
            let product = next().multipliedFullWidth(by: range)
            if product.low >= (0 &- range) % range { return Int(product.high) }
        }
    }
}
