// A live session: one source watched by one model state, with questions answered while the stream keeps running.
// This is the engine's public face (the CLI's `vigil watch` and the server are thin layers over it):
//
//   let session = try LiveSession(model: model, source: "rtsp://cam/stream", configuration: config)
//   session.start()
//   for await update in session.ask("what is on the table?") { … }     // tokens as they come, then the answer
//   let status = session.status                                         // any time, from any thread
//   for await event in session.events.subscribe() { … }                 // segment / answer / status / error
//   await session.stop()
//
// Inside, the per-second loop of the streaming brief (§6, M1–M9):
//   ingest thread (MediaIngest) → pump task: upright RGB → 512² tile, normalised (Lanczos on this task, serially)
//     → timeline (bounded: at most `maxLagFrames` frames wait for the encoder; the oldest is dropped and counted
//       for live sources, files wait instead)
//   encoder task (high priority): vision tower with STC-Cacher → connector → STC-Pruner → encoded frame
//   commit (in timeline order): evict at the chunk boundary, then prefill CHUNK(t) on the existing KV
//   answer task (medium priority): a question enters the timeline at the media time it was asked — before any frame
//     later than that — and is answered there, greedily, token by token; between tokens the encoder may run, so
//     frames keep being encoded (their chunks are committed after the answer).
//
// The session is an actor whose executor is the process's ComputeScheduler thread: all of its model state (vision
// workspace and reference frames, pruner history, KV cache, retrieval store, generator) is touched only there.
// Weights (`VisionLanguageModel`) are immutable and shared.

import Foundation
import Kernels
import MediaIngest
import Memory
import SmolVLM
import Synchronization
import Tokenization
import VigilCore

/// A live session on one source.
public actor LiveSession {
    /// The source as given (URL, path, "-").
    public nonisolated let source: String
    /// The name used in events.
    public nonisolated let name: String
    public nonisolated let configuration: SessionConfiguration
    public nonisolated let model: VisionLanguageModel
    /// Every event of the session (C2 schema).
    public nonisolated let events: EventHub
    nonisolated let scheduler: ComputeScheduler
    nonisolated let statusBox = Mutex(SessionStatus())
    nonisolated let ingest: FrameStream
    nonisolated let isLive: Bool
    /// The newest sampled frame (set by the pump, read by `latestFrame`).
    nonisolated let latestFrameBox = Mutex<(time: Double, image: RGBImage)?>(nil)

    public nonisolated var unownedExecutor: UnownedSerialExecutor { scheduler.asUnownedSerialExecutor() }

    // MARK: Model state (isolated)

    /// The model state and its steps (touched only on the compute thread).
    let engine: StreamEngine
    /// The text memory and the captioner that writes it (nil with `captions` off).
    let memory: TextMemory?
    let captioner: Captioner?
    var clipCollector: ClipCollector
    var captionBacklog: [CaptionWork] = []
    var captionWaiter: CheckedContinuation<Void, Never>?
    var captioning = false
    /// The feature memory (thread-safe; written by the encoder, read by questions).
    public nonisolated let featureMemory: FeatureMemory?
    /// A persistent session's store and run (nil for a session that forgets).
    nonisolated let persistence: SessionPersistence?
    /// Added to the ingest's frame numbers to make the feature memory's frame ids (they continue across runs).
    nonisolated let frameBase: Int
    var lastPersistTime: Double = -.infinity
    var lastPersistedFrame: Int?
    var persistFailedOnce = false
    /// Standing questions the store keeps (registered here without an id from outside).
    var persistedStanding: Set<String> = []
    /// Standing questions and their checks.
    var standing: [StandingQuestion] = []
    var standingDirty: [String: Double] = [:]
    var standingDue: [(id: String, frames: [(time: Double, tokens: Tensor)])] = []
    var standingWaiter: CheckedContinuation<Void, Never>?
    var recentFrames: [(time: Double, tokens: Tensor)] = []
    let judge: YesNoJudge?

    // MARK: Timeline (isolated)

    /// Frames and questions in media-time order, not yet committed to the cache.
    var timeline: [TimelineItem] = []
    var answering = false
    var lastCommentaryTime: Double = -.infinity
    var previousFrame: (segment: Int, width: Int, height: Int)?
    var ingestEnded = false
    /// Media time of the newest frame delivered to the timeline.
    var lastDeliveredTime: Double?
    var ingestError: (any Error)?
    var stopped = false
    var encoderWaiter: CheckedContinuation<Void, Never>?
    var answerWaiter: CheckedContinuation<Void, Never>?
    var spaceWaiters: [CheckedContinuation<Void, Never>] = []
    var idleWaiters: [CheckedContinuation<Void, Never>] = []
    var tasks: [Task<Void, Never>] = []
    var counters = SessionCounters()
    var rates = RateMeter()
    var encodeRate = RecentRate()
    var commitLag = Histogram(bucket: 0.01, buckets: 12_000)
    var memoryIngestTime = Histogram(bucket: 0.000_05, buckets: 20_000)
    nonisolated let startedAt = DispatchTime.now()

    /// Prepares a session on `source` (nothing is read until `start()`). Throws when the configuration does not fit
    /// the model.
    public init(
        model: VisionLanguageModel, source: String, configuration: SessionConfiguration,
        scheduler: ComputeScheduler = .shared()
    ) throws {
        self.source = source
        self.model = model
        self.configuration = configuration
        self.scheduler = scheduler
        events = EventHub()
        engine = try StreamEngine(model: model, configuration: configuration)
        let reserved = engine.cache.store.reservedBytes

        // The feature memory's settings; a persistent session opens its own (bank folder, saved clusters).
        var memoryConfiguration: FeatureMemoryConfiguration?
        if configuration.featureMemory,
            let geometry = try? FeatureGeometry(tokenCount: model.tokensPerFrame, hiddenSize: model.model.decoder.config.hiddenSize)
        {
            var c = FeatureMemoryConfiguration(
                bank: FeatureBank.Configuration(
                    geometry: geometry, ramSeconds: configuration.bankSeconds, frameRate: configuration.fps))
            c.plan = configuration.memoryPlan
            memoryConfiguration = c
        }
        var restored = RestoredState()
        if let p = configuration.persistentSession {
            restored = try Self.restore(
                p, source: source, model: model, configuration: configuration, featureConfiguration: memoryConfiguration)
            featureMemory = restored.featureMemory
        } else {
            featureMemory = memoryConfiguration.flatMap { try? FeatureMemory(configuration: $0) }
        }
        persistence = restored.persistence
        frameBase = restored.persistence?.run.firstFrame ?? 0

        var options = Self.ingestOptions(configuration, source: source, tileSide: model.model.config.visionConfig.imageSize)
        options.timeOffset = restored.persistence?.run.mediaTimeOffset ?? 0
        isLive = options.live ?? MediaSource(source).isLiveByDefault
        name = configuration.sourceName ?? MediaSource(source).displayName
        let hub = events
        ingest = MediaIngest.frames(from: source, options: options) { event in hub.publish(event) }

        if configuration.captions {
            memory = TextMemory(schedule: configuration.memory, entries: restored.entries)
            captioner = Captioner(
                model: model, prompts: configuration.captionPrompts, schedule: configuration.memory,
                context: engine.context)
        } else {
            memory = nil
            captioner = nil
        }
        judge = YesNoJudge(model: model, context: engine.context)
        clipCollector = ClipCollector(
            clipSeconds: configuration.memory.clipSeconds, framesPerClip: configuration.framesPerClip,
            width: model.model.decoder.config.hiddenSize)
        clipCollector.start = memory?.captionedUntil ?? 0
        standing = restored.standing
        for q in restored.standing {
            standingDirty[q.id] = 1
            persistedStanding.insert(q.id)
        }
        statusBox.withLock {
            $0.source = name
            $0.state = .connecting
            $0.retrievalReservedBytes = reserved
        }
    }

    /// Ingest settings for a session: sampling rate, pacing, frames scaled down (never up) to twice the tile side
    /// before the exact Lanczos resize (4K and 8K frames would otherwise cost more to resize than to encode).
    static func ingestOptions(_ c: SessionConfiguration, source: String, tileSide: Int) -> IngestOptions {
        var o = IngestOptions(fps: c.fps, size: .fitWithin(2 * max(tileSide, 1)), realtime: c.realtime ?? false)
        o.sourceName = c.sourceName
        o.queueCapacity = 2
        o.startTime = max(0, c.startTime.isFinite ? c.startTime : 0)
        return o
    }

    // MARK: - Lifecycle

    /// Starts reading the source and processing frames (idempotent).
    public nonisolated func start() {
        Task(priority: .high) { await self.startTasks() }
    }

    private func startTasks() {
        guard tasks.isEmpty, !stopped else { return }
        engine.prefillSink()
        let stream = ingest
        let processor = ImageProcessor(config: model.processor.preprocessor)
        // The pump: one long-lived task reads the ingest (cancelling a pending read would end the ingest).
        tasks.append(
            Task.detached(priority: .high) { [weak self] in
                await Lanczos.$runsSerially.withValue(true) {
                    do {
                        for try await frame in stream {
                            let prepared = PreparedFrame(frame: frame, pixels: processor.processVideoFrame(frame.image).pixels)
                            guard let self else { return }
                            self.latestFrameBox.withLock { $0 = (frame.time.seconds, frame.image) }
                            await self.deliver(prepared)
                        }
                        await self?.ingestFinished(error: nil)
                    } catch {
                        await self?.ingestFinished(error: error)
                    }
                }
            })
        tasks.append(Task(priority: .high) { await self.encoderLoop() })
        tasks.append(Task(priority: .medium) { await self.answerLoop() })
        if memory != nil { tasks.append(Task(priority: .low) { await self.captionLoop() }) }
        tasks.append(Task(priority: .low) { await self.standingLoop() })
        // Periodic status events (none for an interval that is not a positive number of seconds).
        let interval = configuration.statusInterval
        if interval.isFinite && interval > 0 {
            let nanoseconds = UInt64(min(interval, 86_400) * 1e9)
            tasks.append(
                Task.detached(priority: .low) { [weak self] in
                    while !Task.isCancelled {
                        try? await Task.sleep(nanoseconds: nanoseconds)
                        guard let self, !Task.isCancelled else { return }
                        self.publishStatus()
                    }
                })
        }
        updateStatus()
    }

    /// Stops the source and every task; pending questions are answered with an error. Returns the last status.
    @discardableResult
    public func stop() async -> SessionStatus {
        if !stopped {
            stopped = true
            ingest.stop()
            for case .question(let q) in timeline { q.fail("the session stopped before the question was answered") }
            timeline.removeAll { if case .question = $0 { return true } else { return false } }
            encoderWaiter?.resume()
            encoderWaiter = nil
            answerWaiter?.resume()
            answerWaiter = nil
            captionWaiter?.resume()
            captionWaiter = nil
            standingWaiter?.resume()
            standingWaiter = nil
            for w in spaceWaiters { w.resume() }
            spaceWaiters.removeAll()
            for t in tasks { t.cancel() }
            statusBox.withLock { if $0.state != .failed { $0.state = .ended } }
            closePersistence()
            updateStatus()
            publishStatus()
            for w in idleWaiters { w.resume() }
            idleWaiters.removeAll()
        }
        return status
    }

    /// Waits until the source has ended (a file read to its end, a live source given up) and every frame and
    /// question so far is processed; returns at once after `stop()`.
    public func waitUntilIdle() async {
        if isIdle { return }
        await withCheckedContinuation { idleWaiters.append($0) }
    }

    private var isIdle: Bool { stopped || (ingestEnded && timeline.isEmpty && !answering) }

    private func checkIdle() {
        guard isIdle, !idleWaiters.isEmpty else { return }
        let waiters = idleWaiters
        idleWaiters.removeAll()
        for w in waiters { w.resume() }
    }

    // MARK: - Frames in

    /// Adds a prepared frame to the timeline (the pump; waits for room when a file outpaces the encoder).
    func deliver(_ frame: PreparedFrame) async {
        guard !stopped else { return }
        counters.framesReceived += 1
        if !isLive && configuration.realtime != true {
            while unencodedFrames >= configuration.maxLagFrames && !stopped {
                await withCheckedContinuation { spaceWaiters.append($0) }
            }
            guard !stopped else { return }
        }
        lastDeliveredTime = frame.time
        let entry = FrameEntry(frame: frame)
        // A frame goes before questions asked after its time (questions enter before later frames).
        var index = timeline.count
        while index > 0, case .question(let q) = timeline[index - 1], q.askedAt >= frame.time { index -= 1 }
        timeline.insert(.frame(entry), at: index)
        // Latency beats completeness: beyond the lag bound the oldest waiting frame goes.
        while unencodedFrames > configuration.maxLagFrames {
            guard let oldest = timeline.firstIndex(where: { if case .frame(let f) = $0 { return f.encoded == nil } else { return false } })
            else { break }
            timeline.remove(at: oldest)
            counters.framesDroppedLag += 1
        }
        encoderWaiter?.resume()
        encoderWaiter = nil
        commitReady()
        updateStatus()
    }

    var unencodedFramesWaiting: Int { unencodedFrames }

    private var unencodedFrames: Int {
        timeline.reduce(0) { n, item in if case .frame(let f) = item, f.encoded == nil { return n + 1 } else { return n } }
    }

    func ingestFinished(error: (any Error)?) {
        ingestEnded = true
        ingestError = error
        if let error, !stopped {
            let text = (error as? any UserFacingError)?.description ?? "\(error)"
            Log.debug("\(name): ingest ended: \(text)")
        }
        statusBox.withLock { $0.state = error == nil ? .ended : .failed }
        encoderWaiter?.resume()
        encoderWaiter = nil
        answerWaiter?.resume()
        answerWaiter = nil
        updateStatus()
        publishStatus()
        checkIdle()
    }

    // MARK: - The encoder

    private func encoderLoop() async {
        while !stopped {
            guard let entry = nextUnencoded() else {
                if ingestEnded { checkIdle() }
                await withCheckedContinuation { encoderWaiter = $0 }
                continue
            }
            // A file read at full speed always has a next frame; encoding ahead of a question whose turn has come,
            // of clips waiting for captions or of standing checks would starve them (the encoder has the higher
            // priority) — so a file is processed in order. Live frames, in contrast, are encoded as they arrive.
            if !isPaced && (questionIsWaitingAtHead || !captionBacklog.isEmpty || captioning || !standingDue.isEmpty) {
                await withCheckedContinuation { encoderWaiter = $0 }
                continue
            }
            guard engine.hasFreeSlot else {
                // Every buffer holds an encoded frame waiting for an answer to finish: wait for a commit.
                counters.encoderStalls += 1
                await withCheckedContinuation { encoderWaiter = $0 }
                continue
            }
            let frame = entry.frame
            let discontinuous = frame.isDiscontinuous(after: previousFrame)
            previousFrame = (frame.segment, frame.sourceWidth, frame.sourceHeight)
            entry.encoded = engine.encode(frame.pixels, time: frame.time, discontinuous: discontinuous)
            entry.pixels = nil
            if let featureMemory, entry.encoded != nil {
                // Every frame's full tokens (before pruning) into the bank and the synopsis.
                let tokens = engine.frameTokens
                let values = Array(UnsafeBufferPointer(start: tokens.floats, count: tokens.count))
                do {
                    let started = MonotonicClock.seconds
                    try featureMemory.ingest(frame: frameBase + frame.index, tokens: values, time: frame.time)
                    lastPersistedFrame = frameBase + frame.index
                    memoryIngestTime.record(MonotonicClock.seconds - started)
                } catch {
                    counters.featureMemoryErrors += 1
                }
            }
            encodeRate.record(MonotonicClock.seconds)
            for w in spaceWaiters { w.resume() }
            spaceWaiters.removeAll()
            commitReady()
            updateStatus()
            await Task.yield()
        }
    }

    /// Live sources and real-time replays: frames arrive at the stream's pace.
    var isPaced: Bool { isLive || configuration.realtime == true }

    /// Whether an answer is running or the head of the timeline is a question or comment due now.
    private var questionIsWaitingAtHead: Bool {
        if answering { return true }
        switch timeline.first {
        case .question(let q): return isDue(q)
        case .commentary: return true
        default: return false
        }
    }

    private func nextUnencoded() -> FrameEntry? {
        for item in timeline { if case .frame(let f) = item, f.encoded == nil { return f } }
        return nil
    }

    // MARK: - Commit (timeline order)

    /// Prefills encoded frames at the head of the timeline; wakes the answer task when a question is at the head.
    func commitReady() {
        while !answering, let head = timeline.first {
            switch head {
            case .frame(let f):
                guard let encoded = f.encoded else { return }
                timeline.removeFirst()
                if memory != nil { collectForCaptions(time: encoded.time, tokens: engine.tokens(of: encoded)) }
                if !standing.isEmpty {
                    noteFrameForStanding(
                        time: encoded.time, tokens: engine.tokens(of: encoded),
                        changed: Double(encoded.report.changedPatchFraction))
                }
                if engine.commit(encoded) {
                    commitLag.record(MonotonicClock.seconds - f.frame.receivedAt)
                    maybeScheduleCommentary(after: f)
                    persistProgress(at: f.frame.time)
                } else {
                    Log.warning("\(name): frame at \(MediaTime(seconds: f.frame.time)) skipped: no room in the cache")
                }
                encoderWaiter?.resume()
                encoderWaiter = nil
            case .question, .commentary:
                answerWaiter?.resume()
                answerWaiter = nil
                return
            }
        }
        if timeline.isEmpty { checkIdle() }
    }

    // MARK: - Status

    /// The latest status (cheap; safe from any thread).
    public nonisolated var status: SessionStatus { statusBox.withLock { $0 } }

    /// The newest sampled frame — upright RGB as the ingest delivered it (at most twice the tile side), before the
    /// model's resize — and its media time; nil before the first frame. Cheap; safe from any thread (the server's
    /// web page shows it).
    public nonisolated var latestFrame: (time: Double, image: RGBImage)? { latestFrameBox.withLock { $0 } }

    /// Refreshes the status snapshot from the model state.
    func updateStatus() {
        counters.processedFPS = encodeRate.rate
        counters.commitLagP50 = commitLag.quantile(0.5)
        counters.commitLagP95 = commitLag.quantile(0.95)
        counters.commitLagMax = commitLag.maximum
        if memoryIngestTime.count > 0 {
            counters.memoryIngestP50Ms = memoryIngestTime.quantile(0.5) * 1000
            counters.memoryIngestP95Ms = memoryIngestTime.quantile(0.95) * 1000
            counters.memoryIngestMaxMs = memoryIngestTime.maximum * 1000
        }
        let memoryUsage = featureMemory?.usage
        let c = counters
        let cache = engine.cache
        var kinds: [(String, Int)] = []
        for kind in BlockKind.allCases { kinds.append((kind.rawValue, cache.tokens(of: kind))) }
        let store = cache.store
        let stats = engine.stats
        let ingestCounters = ingest.counters
        let pendingQuestions = timeline.reduce(0) { n, i in if case .question = i { return n + 1 } else { return n } }
        rates.record(time: MonotonicClock.seconds, decoded: ingestCounters.decoded, sampled: ingestCounters.sampled)
        let (fpsIn, fpsSampled) = rates.rates
        let primitives = engine.context.primitiveCount
        statusBox.withLock { s in
            s.fpsIn = fpsIn
            s.fpsSampled = fpsSampled
            s.mediaTime = ingestCounters.mediaTime
            s.framesDecoded = ingestCounters.decoded
            s.framesSampled = ingestCounters.sampled
            s.framesDroppedIngest = ingestCounters.dropped
            s.reconnects = ingestCounters.reconnects
            s.stalls = ingestCounters.stalls
            s.counters = c
            s.engine = stats
            s.kvTokens = cache.count
            s.kvByKind = kinds
            s.computedTokens = cache.storage.computedTokens
            s.appendedTokens = cache.appendedTokens
            s.probeTokens = cache.probeTokens
            s.viewTokens = cache.viewTokens
            s.evictedBlocks = cache.evictedBlocks
            s.retrievalBlocks = store.blocks.count
            s.retrievalUsedBytes = store.usedBytes
            s.retrievalThinned = store.thinnedBlocks
            s.questionsPending = pendingQuestions + (answering ? 1 : 0)
            s.windowShrinks = cache.windowShrinks
            s.matmulPrimitives = primitives
            s.memoryEntries = memory?.entries.count ?? 0
            s.captionsBacklog = captionBacklog.count
            s.featureMemory = memoryUsage
            if s.state == .connecting && (ingestCounters.decoded > 0 || !isLive) { s.state = .live }
        }
    }

    /// The cache's layout now (diagnostics and tests).
    public func inspectCache() -> CacheInspection { engine.inspect() }

    /// Publishes a status event with the session's figures.
    nonisolated func publishStatus() {
        events.publish(.status(status.event))
    }
}

// MARK: - Internal types

/// A frame ready for the vision tower.
struct PreparedFrame: Sendable {
    let index: Int
    let time: Double
    let wallClock: Date?
    let segment: Int
    let sourceWidth: Int
    let sourceHeight: Int
    let pixels: Tensor
    /// Monotonic seconds when the pump handed it over.
    let receivedAt: Double

    init(frame: SampledFrame, pixels: Tensor) {
        index = frame.index
        time = frame.time.seconds
        wallClock = frame.wallClock
        segment = frame.segment
        sourceWidth = frame.sourceWidth
        sourceHeight = frame.sourceHeight
        self.pixels = pixels
        receivedAt = MonotonicClock.seconds
    }

    func isDiscontinuous(after previous: (segment: Int, width: Int, height: Int)?) -> Bool {
        guard let previous else { return true }
        return previous.segment != segment || previous.width != sourceWidth || previous.height != sourceHeight
    }
}

/// A frame in the timeline: waiting for the encoder, then encoded (its kept tokens in an engine pool slot).
final class FrameEntry {
    let frame: PreparedFrame
    var pixels: Tensor?
    var encoded: EncodedFrame?
    init(frame: PreparedFrame) {
        self.frame = frame
        pixels = frame.pixels
    }
}

/// An item of the session's timeline.
enum TimelineItem {
    case frame(FrameEntry)
    case question(QuestionEntry)
    case commentary(CommentaryEntry)
}

/// Seconds on a monotonic clock.
enum MonotonicClock {
    static var seconds: Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}

/// Problems starting a session.
public enum SessionError: Error, CustomStringConvertible, Sendable, UserFacingError {
    case configuration([String])
    case model(String)

    public var description: String {
        switch self {
        case .configuration(let problems): return "bad session settings: " + problems.joined(separator: "; ")
        case .model(let text): return text
        }
    }
}

extension LiveSession {
    /// A one-line account of the timeline and waits (diagnostics).
    public func debugDescription() -> String {
        let items = timeline.prefix(8).map { item -> String in
            switch item {
            case .frame(let f): return "f\(f.frame.time)\(f.encoded == nil ? "" : "*")"
            case .question(let q): return "q\(q.askedAt)"
            case .commentary(let c): return "c\(c.time)"
            }
        }
        return "timeline \(timeline.count) [\(items.joined(separator: " "))] answering=\(answering) "
            + "encoderWaiting=\(encoderWaiter != nil) answerWaiting=\(answerWaiter != nil) "
            + "spaceWaiters=\(spaceWaiters.count) freeSlot=\(engine.hasFreeSlot) ended=\(ingestEnded) "
            + "delivered=\(lastDeliveredTime ?? -1) committed=\(engine.stats.framesCommitted)"
    }
}
