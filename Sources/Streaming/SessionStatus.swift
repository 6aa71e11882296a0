// What a live session reports: counters kept by the session actor and a snapshot readable from any thread
// (`LiveSession.status`), turned into C2 status events and the `/status` view.

import Foundation
import Memory
import VigilCore

/// Running totals of a session's timeline (kept on the compute thread, copied into each status snapshot); the model
/// side's figures are `EngineStats`.
public struct SessionCounters: Sendable, Equatable {
    public var framesReceived = 0
    /// Frames dropped because the encoder was more than `maxLagFrames` behind (live sources).
    public var framesDroppedLag = 0
    public var encoderStalls = 0
    public var questionsAnswered = 0
    /// Clip captions written and skipped (the backlog was full).
    public var captionsWritten = 0
    public var captionsSkipped = 0
    /// Standing-question checks made, and skipped for lack of headroom.
    public var standingChecks = 0
    public var standingSkipped = 0
    /// Frames the feature memory refused (out of order, bank file errors).
    public var featureMemoryErrors = 0
    /// Failed writes to a persistent session's store (after the first, the session stops saving).
    public var persistErrors = 0
    public var commentaries = 0
    public var commentarySkipped = 0
    public var lastTTFT: Double?
    public var lastAnswerSeconds: Double?
    /// Frames encoded per second recently.
    public var processedFPS = 0.0
    /// Seconds from a frame's arrival to its chunk being in the cache: median, 95th percentile, largest.
    public var commitLagP50 = 0.0
    public var commitLagP95 = 0.0
    public var commitLagMax = 0.0
    /// Milliseconds to put a frame in the feature memory (bank + synopsis update): median, 95th percentile, largest.
    public var memoryIngestP50Ms = 0.0
    public var memoryIngestP95Ms = 0.0
    public var memoryIngestMaxMs = 0.0
    /// Milliseconds to take a feature-memory snapshot for a question: the last one and the largest.
    public var memorySnapshotLastMs: Double?
    public var memorySnapshotMaxMs = 0.0

    mutating func recordAnswer(ttft: Double, total: Double) {
        lastTTFT = ttft
        lastAnswerSeconds = total
    }
}

/// A snapshot of a session.
public struct SessionStatus: Sendable, Equatable {
    public var source = ""
    public var state: SourceState = .connecting
    /// Media time of the newest decoded frame.
    public var mediaTime: Double?
    public var framesDecoded = 0
    public var framesSampled = 0
    /// Dropped by the ingest's channel (the pump was behind).
    public var framesDroppedIngest = 0
    public var reconnects = 0
    public var stalls = 0
    public var counters = SessionCounters()
    public var engine = EngineStats()
    public var kvTokens = 0
    public var kvByKind: [(String, Int)] = []
    /// Tokens the model computed into the cache (prefill and decode) and tokens appended to it (C14).
    public var computedTokens = 0
    public var appendedTokens = 0
    public var viewTokens = 0
    public var probeTokens = 0
    public var evictedBlocks = 0
    public var windowShrinks = 0
    public var retrievalBlocks = 0
    public var retrievalUsedBytes = 0
    public var retrievalReservedBytes = 0
    public var retrievalThinned = 0
    public var questionsPending = 0
    public var matmulPrimitives = 0
    /// Text memory entries written, and clips waiting for a caption.
    public var memoryEntries = 0
    public var captionsBacklog = 0
    /// The feature memory's sizes (nil with it off).
    public var featureMemory: FeatureMemoryUsage?
    /// Decoded and sampled frames per second over the last seconds.
    public var fpsIn = 0.0
    public var fpsSampled = 0.0

    public init() {}

    public static func == (a: SessionStatus, b: SessionStatus) -> Bool {
        a.event.json == b.event.json && a.counters == b.counters && a.engine == b.engine
    }

    /// Every dropped frame, whatever the reason.
    public var framesDropped: Int { framesDroppedIngest + counters.framesDroppedLag + engine.framesSkippedForRoom }

    /// How far processing is behind the newest decoded frame (media seconds).
    public var lagSeconds: Double {
        guard let now = mediaTime else { return 0 }
        return max(0, now - (engine.lastCommittedTime ?? now))
    }

    /// The status as a C2 event.
    public var event: StatusEvent {
        let c = counters
        let e = engine
        let figures = SessionFigures(
            fpsIn: fpsIn, fpsSampled: fpsSampled, fpsProcessed: c.processedFPS, lagSeconds: lagSeconds,
            framesProcessed: e.framesCommitted, kvTokens: kvTokens, kvByKind: kvByKind,
            retrievalBytes: retrievalReservedBytes, retrievalBlocks: retrievalBlocks,
            visionFLOPsSaved: e.visionFLOPsSaved,
            visualTokensKeptRatio: e.tokensSeen > 0 ? Double(e.tokensKept) / Double(e.tokensSeen) : 1,
            questionsAnswered: c.questionsAnswered, questionsPending: questionsPending,
            rssBytes: ProcessMemory.residentBytes)
        return StatusEvent(
            source: source, state: state, mediaTime: mediaTime, framesDecoded: framesDecoded,
            framesSampled: framesSampled, dropped: framesDropped, reconnects: reconnects, detail: nil,
            session: figures)
    }
}

/// Rates of counters over a sliding window of samples.
struct RateMeter: Sendable {
    private var samples: [(time: Double, decoded: Int, sampled: Int)] = []
    let window: Double

    init(window: Double = 10) { self.window = window }

    mutating func record(time: Double, decoded: Int, sampled: Int) {
        samples.append((time, decoded, sampled))
        while let first = samples.first, time - first.time > window, samples.count > 2 { samples.removeFirst() }
    }

    var rates: (decoded: Double, sampled: Double) {
        guard let first = samples.first, let last = samples.last, last.time - first.time > 0.2 else { return (0, 0) }
        let dt = last.time - first.time
        return (Double(last.decoded - first.decoded) / dt, Double(last.sampled - first.sampled) / dt)
    }
}

/// A fixed-bucket histogram of non-negative values (bounded memory however long it runs).
public struct Histogram: Sendable, Equatable {
    public let bucket: Double
    private var counts: [Int]
    public private(set) var count = 0
    public private(set) var maximum = 0.0
    public private(set) var sum = 0.0

    public init(bucket: Double, buckets: Int) {
        self.bucket = bucket
        counts = Array(repeating: 0, count: max(1, buckets))
    }

    public mutating func record(_ value: Double) {
        let v = max(0, value.isFinite ? value : 0)
        counts[min(counts.count - 1, Int(v / bucket))] += 1
        count += 1
        sum += v
        maximum = max(maximum, v)
    }

    /// The value below which a share `q` (0…1) of the records fall (bucket upper edges).
    public func quantile(_ q: Double) -> Double {
        guard count > 0 else { return 0 }
        let target = max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for (i, n) in counts.enumerated() {
            seen += n
            if seen >= target { return min(maximum, Double(i + 1) * bucket) }
        }
        return maximum
    }

    public var mean: Double { count > 0 ? sum / Double(count) : 0 }
}

/// Encode times of the last frames, for a recent processing rate (fixed storage).
struct RecentRate: Sendable {
    private var times: [Double]
    private var head = 0
    private var filled = 0

    init(capacity: Int = 32) { times = Array(repeating: 0, count: capacity) }

    mutating func record(_ t: Double) {
        times[head] = t
        head = (head + 1) % times.count
        filled = min(filled + 1, times.count)
    }

    /// Events per second over the window (0 with fewer than two).
    var rate: Double {
        guard filled >= 2 else { return 0 }
        let newest = times[(head - 1 + times.count) % times.count]
        let oldest = times[(head - filled + times.count) % times.count]
        return newest > oldest ? Double(filled - 1) / (newest - oldest) : 0
    }
}
