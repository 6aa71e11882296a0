// The feature memory of a live session (../shared/briefs/memory.md §6.2, §6.4): the session calls
// `ingest(frame:tokens:time:)` once per sampled frame, and a question takes an immutable `snapshot(at:)` from
// which it builds its blocks without holding any lock during model work.
//
//   ingest ─► FrameFeatures (k_f, g_f) ─► FeatureBank (RAM ring, segment files) ─► Synopsis (K clusters)
//                                       └► global-key index (exact, HNSW beyond └► publish version v (Σ w = v)
//                                          a threshold: TieredVectorIndex)
//   snapshot(at: t) ─► the newest kept version with t_snap ≤ t ─► read(plan) ─► synopsis + detail + current blocks
//
// Concurrency (two pthread locks, Locked.swift): one writer lock serialises ingests (an ingest is O(K·D + T·H) plus one record write); publishing a
// version takes a second lock only to append a value of copy-on-write arrays and immutable handles. Readers take
// that second lock only to copy a version out, so a reader never waits for an ingest's work and an ingest never
// waits for a reader. The last `retainedVersions` versions are kept so a question can be answered as of its own
// media time when frames after it have already arrived (streaming causality).
//
// The global-key index is rebuilt from the bank's keys on opening, except for an HNSW graph saved with
// `saveGlobalKeyIndex()` in the bank folder (`global-keys.hnsw-*`): that one is loaded, reconciled with the bank
// (frames gone since are removed, newer frames added) and only discarded, with a warning, when damaged or when it
// misses frames the bank holds.

import VigilCore

/// The feature memory's settings.
public struct FeatureMemoryConfiguration: Sendable, Hashable {
    /// The frame store.
    public var bank: FeatureBank.Configuration
    /// The synopsis (K, mode).
    public var synopsis: Synopsis.Configuration
    /// The general-class read (n_cur, K, R).
    public var plan: ReadPlan
    /// Detail frames closer than this many seconds to a chosen or current frame are skipped (default 2).
    public var detailSpacing: Double
    /// Most question-guided detail frames (default 2).
    public var questionGuidedLimit: Int
    /// Detail selection scans at most this many members per cluster, evenly spaced (nil, the default: all of
    /// them, exactly). Members outside the RAM ring cost one key read (Kt·H·2 bytes) each.
    public var detailCandidateLimit: Int?
    /// Versions kept for `snapshot(at:)` (default 8).
    public var retainedVersions: Int
    /// Newest frames kept in fp32 for exact current blocks (default 4; older current frames come from the bank's
    /// fp16).
    public var exactRecentFrames: Int
    /// The global-key index: exact up to a threshold, HNSW beyond it.
    public var globalKeys: TieredVectorIndex.Configuration

    /// Settings; the defaults are the brief's for SmolVLM2-256M.
    public init(
        bank: FeatureBank.Configuration, synopsis: Synopsis.Configuration = Synopsis.Configuration(),
        plan: ReadPlan = ReadPlan(), detailSpacing: Double = 2, questionGuidedLimit: Int = 2,
        detailCandidateLimit: Int? = nil, retainedVersions: Int = 8, exactRecentFrames: Int = 4,
        globalKeys: TieredVectorIndex.Configuration = TieredVectorIndex.Configuration()
    ) {
        self.bank = bank
        self.synopsis = synopsis
        self.plan = plan
        self.detailSpacing = detailSpacing
        self.questionGuidedLimit = questionGuidedLimit
        self.detailCandidateLimit = detailCandidateLimit
        self.retainedVersions = retainedVersions
        self.exactRecentFrames = exactRecentFrames
        self.globalKeys = globalKeys
    }

    /// Default settings for frames of `geometry`, RAM only.
    public init(geometry: FeatureGeometry) { self.init(bank: FeatureBank.Configuration(geometry: geometry)) }

    /// The frames' geometry.
    public var geometry: FeatureGeometry { bank.geometry }

    /// Where `saveGlobalKeyIndex()` keeps the HNSW graph: `<bank folder>/global-keys` (nil without a folder).
    public var globalKeyIndexBase: String? { bank.directory.map { $0 + "/global-keys" } }

    func validate() throws(MemoryError) {
        guard detailSpacing >= 0, detailSpacing.isFinite else {
            throw .invalidFeatureSetting(setting: "detail spacing", detail: "\(detailSpacing) s is not ≥ 0")
        }
        guard retainedVersions >= 1, questionGuidedLimit >= 0, exactRecentFrames >= 0,
            (detailCandidateLimit ?? 1) >= 1
        else {
            throw .invalidFeatureSetting(
                setting: "feature memory", detail: "retained versions must be ≥ 1 and limits ≥ 0 (candidates ≥ 1)")
        }
        try globalKeys.validate()
    }
}

/// A newest frame kept with its exact fp32 tokens.
struct RecentFrame: Sendable {
    let id: Int
    let time: Double
    let tokens: [Float]
}

/// How much memory the feature memory holds.
public struct FeatureMemoryUsage: Sendable, Hashable {
    /// Frame records in the RAM ring.
    public var bankRAMBytes: Int
    /// Segment files on disk.
    public var bankFileBytes: Int
    /// The in-RAM index of the file frames.
    public var bankIndexBytes: Int
    /// The global-key index.
    public var globalKeyBytes: Int
    /// Synopsis clusters, caches and member lists.
    public var synopsisBytes: Int
    /// Exact recent frames.
    public var recentBytes: Int
    /// Buffers only older retained versions still hold (clusters changed since, older recent frames, ring lists).
    public var retainedVersionBytes: Int
    /// Frames in the RAM ring.
    public var bankRAMFrames: Int
    /// Frames thinned from the files so far.
    public var thinnedFrames: Int
    /// Frames dropped from RAM with no file.
    public var droppedFrames: Int

    /// Everything in RAM.
    public var ramBytes: Int {
        bankRAMBytes + bankIndexBytes + globalKeyBytes + synopsisBytes + recentBytes + retainedVersionBytes
    }

    /// RAM outside the bank and the keys: what must not grow with the stream's length.
    public var ramBytesExcludingBankAndKeys: Int { synopsisBytes + recentBytes + retainedVersionBytes }
}

/// The bounded feature memory of one stream: bank, synopsis, global keys, published snapshots. Thread-safe.
public final class FeatureMemory: Sendable {
    /// The settings.
    public let configuration: FeatureMemoryConfiguration

    private struct Writer {
        var bank: FeatureBank
        var synopsis: Synopsis
        var index: TieredVectorIndex
        var recent: [RecentFrame] = []
        /// Ids gone from the bank but still in the index (searches skip them; compacted in bulk).
        var pendingRemoval: Set<Int> = []
        var last: (id: Int, time: Double)?
        var version: Int
    }

    private let writer: Locked<Writer>
    private let versions: Locked<[FeatureMemorySnapshot]>

    /// Opens the memory. With a bank folder holding frames, the bank resumes (ids and times continue after its
    /// last frame); `restoring` continues a saved synopsis, and bank frames newer than the state's last member are
    /// replayed into it (from the bank's fp16 copy). `initializer` replaces reference mode's seeded initialisation.
    public init(
        configuration: FeatureMemoryConfiguration, restoring state: SynopsisState? = nil,
        initializer: (any ReferenceInitializer)? = nil
    ) throws(MemoryError) {
        try configuration.validate()
        self.configuration = configuration
        let geometry = configuration.geometry
        let keys = configuration.globalKeys
        var saved: TieredVectorIndex?
        if let base = configuration.globalKeyIndexBase {
            do {
                saved = try TieredVectorIndex.load(from: base, dimension: geometry.hiddenSize, configuration: keys)
            } catch {
                Log.warning("\(error.description); rebuilding the global-key index from the feature bank")
            }
        }
        // Replay the bank's keys: into a fresh index, or, after a saved graph's last row, into the saved one.
        var index = TieredVectorIndex(dimension: geometry.hiddenSize, configuration: keys)
        let savedLast = saved?.lastID
        var bankIDsInSaved: [Int] = []
        let bank = try FeatureBank(configuration.bank) { id, time, globalKey in
            if saved != nil, let savedLast, id <= savedLast {
                bankIDsInSaved.append(id)
            } else if saved != nil {
                saved!.add(id: id, time: time, vector: globalKey, migrating: false)
            } else {
                index.add(id: id, time: time, vector: globalKey, migrating: false)
            }
        }
        if var loaded = saved {
            let graphIDs = loaded.liveIDs().prefix { $0 <= savedLast! }
            if Set(bankIDsInSaved).isSubset(of: graphIDs) {
                loaded.remove(Set(graphIDs).subtracting(bankIDsInSaved))
                index = loaded
            } else {
                Log.warning(
                    "the saved global-key index in \(configuration.globalKeyIndexBase!) misses frames of the bank; "
                        + "rebuilding it from the bank")
                let view = bank.view
                var frames: [(Int, Double)] = []
                view.forEachFrame(in: Int.min...Int.max) { frames.append(($0, $1)) }
                for (id, time) in frames {
                    guard let frame = try view.frame(id: id) else { continue }
                    frame.globalKey().withUnsafeBufferPointer {
                        index.add(id: id, time: time, vector: $0, migrating: false)
                    }
                }
            }
        }
        var synopsis: Synopsis
        if let state {
            guard state.geometry == geometry, state.configuration == configuration.synopsis else {
                throw .invalidFeatureSetting(
                    setting: "synopsis state",
                    detail: "it was saved for \(state.geometry), K = \(state.configuration.clusterCount), mode "
                        + "\(state.configuration.mode.rawValue); this memory has \(geometry), K = "
                        + "\(configuration.synopsis.clusterCount), mode \(configuration.synopsis.mode.rawValue)")
            }
            synopsis = try Synopsis(restoring: state)
        } else {
            synopsis = try Synopsis(configuration: configuration.synopsis, geometry: geometry)
        }
        if let initializer { synopsis.initializer = initializer }

        var last = bank.lastFrame
        if let stateLast = state?.lastFrameID {
            let view = bank.view
            var replay: [(Int, Double)] = []
            view.forEachFrame(in: (stateLast + 1)...Int.max) { replay.append(($0, $1)) }
            for (id, time) in replay {
                guard let frame = try view.frame(id: id) else { continue }
                synopsis.add(
                    id: id, time: time,
                    features: FrameFeatures(tokens: frame.tokens(), key: frame.key(), globalKey: frame.globalKey()))
            }
            if last == nil || stateLast > last!.id {
                let stateTime = state!.clusters.map(\.end).max() ?? -.infinity
                last = (stateLast, max(stateTime, last?.time ?? -.infinity))
            }
        }
        let first = Writer(bank: bank, synopsis: synopsis, index: index, last: last, version: synopsis.frameCount)
        let snapshot = Self.makeSnapshot(first, configuration: configuration)
        writer = Locked(first)
        versions = Locked([snapshot])
    }

    /// Adds one sampled frame: `frame` is the session's frame number (strictly increasing; it becomes the frame's
    /// id), `tokens` its [T×H] post-connector tokens, `time` its media time (strictly increasing). Returns the new
    /// version. Throws, changing nothing, for frames out of order or with non-finite values; throws on bank file
    /// errors (the frame is then in no part of the memory).
    @discardableResult
    public func ingest(frame: Int, tokens: [Float], time: Double) throws(MemoryError) -> Int {
        let features = FrameFeatures(tokens: tokens, geometry: configuration.geometry)
        return try writer.withLock { (w) throws(MemoryError) -> Int in
            if let last = w.last, frame <= last.id || !(time > last.time) {
                throw .frameOutOfOrder(frame: frame, time: time, previousFrame: last.id, previousTime: last.time)
            }
            let removed = try w.bank.append(id: frame, time: time, features: features)
            w.synopsis.add(id: frame, time: time, features: features)
            features.globalKey.withUnsafeBufferPointer { w.index.add(id: frame, time: time, vector: $0) }
            if !removed.isEmpty {
                w.pendingRemoval.formUnion(removed)
                if 3 * w.pendingRemoval.count > w.index.count {
                    w.index.remove(w.pendingRemoval)
                    w.pendingRemoval = []
                }
            }
            if configuration.exactRecentFrames > 0 {
                w.recent.append(RecentFrame(id: frame, time: time, tokens: tokens))
                if w.recent.count > configuration.exactRecentFrames { w.recent.removeFirst() }
            }
            w.last = (frame, time)
            w.version += 1
            let snapshot = Self.makeSnapshot(w, configuration: configuration)
            let kept = configuration.retainedVersions
            versions.withLock { list in
                list.append(snapshot)
                if list.count > kept { list.removeFirst(list.count - kept) }
            }
            return w.version
        }
    }

    /// The newest kept version whose newest frame is at or before `time` (nil: the newest version). Throws when
    /// every kept version is newer than `time`.
    public func snapshot(at time: Double? = nil) throws(MemoryError) -> FeatureMemorySnapshot {
        try versions.withLock { (list) throws(MemoryError) -> FeatureMemorySnapshot in
            guard let time else { return list.last! }
            if let found = list.last(where: { ($0.time ?? -.infinity) <= time }) { return found }
            throw .snapshotUnavailable(time: time, oldest: list.first?.time)
        }
    }

    /// The synopsis as it is now, for saving (`SynopsisState.serialized()`).
    public var synopsisState: SynopsisState { writer.withLock { $0.synopsis.state } }

    /// The newest frame's id and time (nil before the first): a resumed stream continues after it.
    public var lastFrame: (id: Int, time: Double)? { writer.withLock { $0.last } }

    /// Memory held now.
    public var usage: FeatureMemoryUsage {
        let retained = versions.withLock { $0 }
        return writer.withLock { w in
            FeatureMemoryUsage(
                bankRAMBytes: w.bank.ramBytes, bankFileBytes: w.bank.fileBytes, bankIndexBytes: w.bank.indexBytes,
                globalKeyBytes: w.index.byteCount + 8 * w.pendingRemoval.count, synopsisBytes: w.synopsis.byteCount,
                recentBytes: w.recent.reduce(0) { $0 + 4 * $1.tokens.count + 32 },
                retainedVersionBytes: Self.retainedBytes(retained, current: w),
                bankRAMFrames: w.bank.ramFrameCount, thinnedFrames: w.bank.thinnedFrameCount,
                droppedFrames: w.bank.droppedFrameCount)
        }
    }

    /// Saves the global-key index's HNSW graph next to the bank files (`configuration.globalKeyIndexBase`), so a
    /// reopened memory loads it instead of rebuilding it; in the exact phase, removes any graph saved before.
    /// Ingests wait while the graph is written (≈ 2.6 KB per frame, ~1 s per GB); questions do not. Nothing to do
    /// without a bank folder.
    public func saveGlobalKeyIndex() throws(MemoryError) {
        guard let base = configuration.globalKeyIndexBase else { return }
        try writer.withLock { (w) throws(MemoryError) in try w.index.save(to: base) }
    }

    /// The global-key index's phase (exact, building, graph, rebuilding).
    public var globalKeyIndexPhase: TieredVectorIndex.Phase { writer.withLock { $0.index.phase } }

    /// Moves up to `rows` rows into a global-key graph being built (for idle time; each ingest moves
    /// `globalKeys.migrationBatch`); returns the rows moved.
    @discardableResult
    public func advanceGlobalKeyIndex(rows: Int) -> Int { writer.withLock { $0.index.buildStep(rows: rows) } }

    /// Flushes the bank files.
    public func flush() throws(MemoryError) { try writer.withLock { (w) throws(MemoryError) in try w.bank.flush() } }

    /// Flushes and releases the bank folder; snapshots stay readable. Ingesting afterwards is a programmer error.
    public func close() { writer.withLock { $0.bank.close() } }

    // MARK: - Versions

    private static func makeSnapshot(_ w: Writer, configuration: FeatureMemoryConfiguration) -> FeatureMemorySnapshot {
        FeatureMemorySnapshot(
            version: w.version, time: w.last?.time, clusters: w.synopsis.clusters, mode: w.synopsis.configuration.mode,
            bank: w.bank.view, index: w.index, recent: w.recent, configuration: configuration)
    }

    /// Bytes of buffers that older versions hold and the writer no longer does.
    private static func retainedBytes(_ list: [FeatureMemorySnapshot], current w: Writer) -> Int {
        var live = Set<UnsafeRawPointer>()
        func address(_ array: [Float]) -> UnsafeRawPointer? { array.withUnsafeBytes { $0.baseAddress } }
        for cluster in w.synopsis.clusters {
            if let a = address(cluster.keySum) { live.insert(a) }
            if let a = address(cluster.fullSum) { live.insert(a) }
        }
        for frame in w.recent { if let a = address(frame.tokens) { live.insert(a) } }
        var seen = live
        var bytes = 0
        for snapshot in list {
            bytes += 8 * snapshot.bank.ram.count  // each version's ring list (frames themselves are shared)
            for cluster in snapshot.clusters {
                for array in [cluster.keySum, cluster.fullSum] {
                    if let a = address(array), seen.insert(a).inserted { bytes += 4 * array.count }
                }
            }
            for frame in snapshot.recent {
                if let a = address(frame.tokens), seen.insert(a).inserted { bytes += 4 * frame.tokens.count }
            }
        }
        return bytes
    }
}
