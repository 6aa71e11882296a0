// An immutable version of the feature memory and the question-time read built from it (../shared/briefs/memory.md
// §6.2 "Detail selection", §6.4, §6.5): current frames, synopsis blocks and detail frames, all at or before the
// version's time t_snap (streaming causality). Reading takes no lock and may run on any thread, for as long as the
// model needs; the writer keeps ingesting meanwhile.
//
// Detail selection fills R slots in order:
//   1. question-guided: for each of the first `questionGuidedLimit` given times (text-memory hits), the readable
//      frame nearest it at or before t_snap;
//   2. weight-guided: for the clusters by descending weight (ties: earlier mean time) not covered yet (no chosen
//      frame among their members), the member frame minimising ‖k_f − μ_c‖² (μ_c = the cluster's centroid;
//      exact scan of the members the bank can still read, ties to the lower id).
// Any frame within `detailSpacing` seconds of an already chosen or a current frame is skipped; a guided time whose
// nearest frame is skipped fills no slot. Member keys come from the RAM ring or one pread each from the files.

/// One version of the feature memory: what a question at its time may use. Immutable and thread-safe.
public struct FeatureMemorySnapshot: Sendable {
    /// The version: frames ingested up to it (Σ w of its clusters).
    public let version: Int
    /// t_snap: the newest frame's media time (nil before the first frame).
    public let time: Double?
    /// The synopsis clusters (slot order in ward mode, time order otherwise).
    public let clusters: [SynopsisCluster]
    /// The synopsis mode.
    public let mode: Synopsis.Mode
    /// The bank as of this version.
    public let bank: FeatureBankView
    let index: TieredVectorIndex
    let recent: [RecentFrame]
    let configuration: FeatureMemoryConfiguration

    init(
        version: Int, time: Double?, clusters: [SynopsisCluster], mode: Synopsis.Mode, bank: FeatureBankView,
        index: TieredVectorIndex, recent: [RecentFrame], configuration: FeatureMemoryConfiguration
    ) {
        self.version = version
        self.time = time
        self.clusters = clusters
        self.mode = mode
        self.bank = bank
        self.index = index
        self.recent = recent
        self.configuration = configuration
    }

    /// The frames' geometry.
    public var geometry: FeatureGeometry { configuration.geometry }

    /// Σ w over the clusters.
    public var frameCount: Int { clusters.reduce(0) { $0 + $1.weight } }

    /// The blocks for a question of `questionClass`: the configuration's plan, its synopsis count capped at K,
    /// shifted for the class; `guidedTimes` are the times of text-memory hits, best first.
    public func read(for questionClass: QuestionClass = .general, guidedTimes: [Double] = []) throws(MemoryError)
        -> FeatureMemoryRead
    {
        var plan = configuration.plan
        plan.synopsisCount = min(plan.synopsisCount, configuration.synopsis.clusterCount)
        return try read(plan.shifted(for: questionClass), guidedTimes: guidedTimes)
    }

    /// The blocks of `plan`; `guidedTimes` are the times of text-memory hits, best first.
    public func read(_ plan: ReadPlan, guidedTimes: [Double] = []) throws(MemoryError) -> FeatureMemoryRead {
        let current = try currentBlocks(count: plan.currentCount)
        let choices = try detailFrames(
            count: plan.detailCount, guidedTimes: guidedTimes, avoiding: current.map(\.time)
        ).sorted { $0.time < $1.time }
        var detail: [MemoryBlock] = []
        for choice in choices {
            guard let frame = try bank.frame(id: choice.frameID) else { continue }
            detail.append(
                MemoryBlock(
                    kind: .detail, tokens: frame.tokens(), start: frame.time, end: frame.time, time: frame.time,
                    frameCount: 1, frameID: frame.id))
        }
        return FeatureMemoryRead(
            version: version, time: time, synopsis: synopsisBlocks(count: plan.synopsisCount), detail: detail,
            current: current, detailChoices: choices)
    }

    /// The newest `count` frames (exact fp32 tokens for the newest few, the bank's fp16 for older ones), by time.
    public func currentBlocks(count: Int) throws(MemoryError) -> [MemoryBlock] {
        guard let time, count > 0 else { return [] }
        var blocks: [MemoryBlock] = []
        for (id, frameTime) in bank.newestFrames(count: count, notAfter: time) {
            let tokens: [Float]
            if let exact = recent.first(where: { $0.id == id }) {
                tokens = exact.tokens
            } else if let frame = try bank.frame(id: id) {
                tokens = frame.tokens()
            } else {
                continue
            }
            blocks.append(
                MemoryBlock(
                    kind: .current, tokens: tokens, start: frameTime, end: frameTime, time: frameTime, frameCount: 1,
                    frameID: id))
        }
        return blocks
    }

    /// At most `count` synopsis blocks (clusters merged down when there are more), by weighted mean time.
    public func synopsisBlocks(count: Int) -> [MemoryBlock] {
        Synopsis.reduced(clusters, to: count, neighboursOnly: mode == .contiguous).map {
            MemoryBlock(
                kind: .synopsis, tokens: $0.meanTokens, start: $0.start, end: $0.end, time: $0.meanTime,
                frameCount: $0.weight, frameID: nil)
        }
    }

    /// The detail frames a read of `count` would choose, skipping frames within the spacing of `avoiding` (the
    /// current frames' times), in the order they were chosen (question-guided first).
    public func detailFrames(count: Int, guidedTimes: [Double] = [], avoiding: [Double] = []) throws(MemoryError)
        -> [DetailChoice]
    {
        guard let limit = time, count > 0 else { return [] }
        let spacing = configuration.detailSpacing
        var taken = avoiding
        func isFree(_ t: Double) -> Bool { taken.allSatisfy { abs($0 - t) > spacing } }
        var chosen: [DetailChoice] = []

        for guided in guidedTimes.prefix(configuration.questionGuidedLimit) where chosen.count < count {
            guard let frame = bank.frame(nearest: guided, notAfter: limit), isFree(frame.time) else { continue }
            chosen.append(DetailChoice(frameID: frame.id, time: frame.time, source: .question(time: guided)))
            taken.append(frame.time)
        }

        let order = clusters.indices.sorted {
            let (a, b) = (clusters[$0], clusters[$1])
            if a.weight != b.weight { return a.weight > b.weight }
            if a.meanTime != b.meanTime { return a.meanTime < b.meanTime }
            return $0 < $1
        }
        var scratch: [UInt8] = []
        for c in order where chosen.count < count {
            let cluster = clusters[c]
            if chosen.contains(where: { cluster.members.contains($0.frameID) }) { continue }
            let centroid = cluster.centroid
            let step = configuration.detailCandidateLimit.map { max(1, (cluster.weight + $0 - 1) / $0) } ?? 1
            var position = 0
            var best: (id: Int, time: Double, distance: Float)?
            try cluster.members.forEachRange { (range) throws(MemoryError) in
                try bank.forEachFrame(in: range) { (id, frameTime) throws(MemoryError) in
                    defer { position += 1 }
                    guard position % step == 0, frameTime <= limit, isFree(frameTime) else { return }
                    let measured = try centroid.withUnsafeBufferPointer { (mean) throws(MemoryError) in
                        try bank.keyDistance(id: id, to: mean, scratch: &scratch)
                    }
                    guard let distance = measured else { return }
                    if let current = best,
                        !(distance < current.distance || (distance == current.distance && id < current.id))
                    {
                        return
                    }
                    best = (id, frameTime, distance)
                }
            }
            if let best {
                chosen.append(DetailChoice(frameID: best.id, time: best.time, source: .cluster(index: c)))
                taken.append(best.time)
            }
        }
        return chosen
    }

    /// The `k` frames whose global keys are most similar (cosine) to `query` ([H]) among readable frames at or
    /// before this version's time (and within `filter`'s bounds), best first.
    public func searchGlobalKeys(_ query: [Float], k: Int, filter: VectorSearchFilter = VectorSearchFilter())
        -> [VectorMatch]
    {
        guard let time else { return [] }
        var bounded = filter
        bounded.maxTime = min(filter.maxTime ?? time, time)
        let bank = self.bank
        let admits = filter.admits
        bounded.admits = { id in bank.contains(id) && (admits?(id) ?? true) }
        return index.search(query, k: k, filter: bounded)
    }

    /// Frame `id` as the bank stores it (nil when it is not readable in this version).
    public func frame(id: Int) throws(MemoryError) -> BankFrame? { try bank.frame(id: id) }
}
