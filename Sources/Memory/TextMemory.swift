// The coarse-to-fine text memory of one stream (memory brief §6.3, VideoLucy's levels): clip captions (L1, every
// `clipSeconds` of media), segment summaries (L2, every `segmentSeconds`, from that segment's clip captions), and a
// rolling stream summary (L3, renewed with each segment summary). Entries are immutable once added; BM25 indexes
// them for questions (`search` only ever sees entries that ended by the question's time).
//
// The schedule says what is due: `dueClip(after:)` the next clip span once media time passes its end,
// `dueSegment()` once the clips of a segment are in. The model side (Streaming's Captioner) writes the text.

/// The cadence of a text memory.
public struct TextMemorySchedule: Sendable, Hashable {
    /// Media seconds per clip caption (L1).
    public var clipSeconds: Double
    /// Media seconds per segment summary (L2); a multiple of `clipSeconds`.
    public var segmentSeconds: Double
    /// Token caps of each level.
    public var clipTokens: Int
    public var segmentTokens: Int
    public var summaryTokens: Int

    public init(
        clipSeconds: Double = 30, segmentSeconds: Double = 300, clipTokens: Int = 48, segmentTokens: Int = 80,
        summaryTokens: Int = 120
    ) {
        self.clipSeconds = clipSeconds
        self.segmentSeconds = segmentSeconds
        self.clipTokens = clipTokens
        self.segmentTokens = segmentTokens
        self.summaryTokens = summaryTokens
    }

    /// Clips per segment.
    public var clipsPerSegment: Int { max(1, Int((segmentSeconds / clipSeconds).rounded())) }

    /// The cap of `level`.
    public func cap(_ level: TextMemoryEntry.Level) -> Int {
        switch level {
        case .clip: return clipTokens
        case .segment: return segmentTokens
        case .summary: return summaryTokens
        }
    }
}

/// A stream's captions and summaries, searchable.
public final class TextMemory: @unchecked Sendable {
    public let schedule: TextMemorySchedule
    /// Every entry, in the order added.
    public private(set) var entries: [TextMemoryEntry] = []
    private var index = BM25Index()
    /// The end of the last clip captioned (or skipped), media seconds.
    public private(set) var captionedUntil: Double
    /// Clips skipped (a live session too busy to caption them).
    public private(set) var skippedClips = 0
    /// The end of the last segment summarised.
    public private(set) var summarisedUntil: Double

    /// A memory with `entries` already written (a resumed run), following `schedule`.
    public init(schedule: TextMemorySchedule = TextMemorySchedule(), entries: [TextMemoryEntry] = []) {
        self.schedule = schedule
        captionedUntil = 0
        summarisedUntil = 0
        for e in entries { add(e) }
    }

    /// Adds an entry (immutable from now on).
    public func add(_ entry: TextMemoryEntry) {
        entries.append(entry)
        index.add(entry)
        switch entry.level {
        case .clip: captionedUntil = max(captionedUntil, entry.end)
        case .segment: summarisedUntil = max(summarisedUntil, entry.end)
        case .summary: break
        }
    }

    /// Records that the clip ending at `end` was not captioned.
    public func skipClip(until end: Double) {
        captionedUntil = max(captionedUntil, end)
        skippedClips += 1
    }

    /// The next clip span to caption once media time has reached `time` (nil while the clip is still running).
    public func dueClip(at time: Double) -> (start: Double, end: Double)? {
        let end = captionedUntil + schedule.clipSeconds
        return time >= end - 1e-9 ? (captionedUntil, end) : nil
    }

    /// The last clip of a source that ended at `duration`: a shorter final clip (nil if nothing is left). Less
    /// than half a second after the last clip is not worth a caption of its own — unless nothing was captioned
    /// yet: a recording shorter than half a second still gets its one caption.
    public func finalClip(duration: Double) -> (start: Double, end: Double)? {
        let nothingYet = captionedUntil == 0 && !entries.contains { $0.level == .clip }
        return duration > captionedUntil + 0.5 || (nothingYet && duration > 0) ? (captionedUntil, duration) : nil
    }

    /// The next segment to summarise, when its clips are all in (or, with `final`, whatever clips are left).
    public func dueSegment(final: Bool = false) -> (start: Double, end: Double, clips: [TextMemoryEntry])? {
        let end = summarisedUntil + schedule.segmentSeconds
        let clipsEnd = captionedUntil
        guard clipsEnd >= end - 1e-9 || (final && clipsEnd > summarisedUntil + 1e-9) else { return nil }
        let stop = min(end, clipsEnd)
        let clips = entries.filter { $0.level == .clip && $0.start >= summarisedUntil - 1e-9 && $0.end <= stop + 1e-9 }
        guard !clips.isEmpty else {
            // Nothing was captioned in it (all clips skipped): move on without a summary.
            summarisedUntil = stop
            return nil
        }
        return (summarisedUntil, stop, clips)
    }

    /// The latest stream summary.
    public var latestSummary: TextMemoryEntry? { entries.last { $0.level == .summary } }

    /// A segment summary not yet followed by its stream summary (a run stopped between writing the two).
    public var segmentAwaitingSummary: TextMemoryEntry? {
        guard let segment = entries.last(where: { $0.level == .segment }) else { return nil }
        if let summary = latestSummary, summary.end >= segment.end - 1e-9 { return nil }
        return segment
    }

    /// Entries of `level` that ended by `time`, oldest first.
    public func entries(_ level: TextMemoryEntry.Level, endingBy time: Double = .infinity) -> [TextMemoryEntry] {
        entries.filter { $0.level == level && $0.end <= time + 1e-9 }
    }

    /// The best BM25 matches of `query` among entries of `levels` that ended by `time`, skipping `excluded` ids.
    public func search(
        _ query: String, levels: Set<TextMemoryEntry.Level>, endingBy time: Double, limit: Int,
        excluding excluded: Set<Int> = []
    ) -> [BM25Index.Hit] {
        index.search(query, limit: limit, filter: BM25Index.Filter(levels: levels, endingBy: time, excludedIDs: excluded))
    }

    /// The index id of each entry (its position in `entries`).
    public func id(of entry: TextMemoryEntry) -> Int? { entries.firstIndex(of: entry) }
}
