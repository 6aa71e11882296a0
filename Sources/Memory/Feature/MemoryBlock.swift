// What a question-time read of the feature memory returns: frame-sized blocks of visual tokens with their times
// and prompt labels (../shared/briefs/memory.md §6.2 "Prompt rendering", §6.5 step 2), and how many of each kind a
// read asks for.
//
//   kind       tokens            label                          times
//   synopsis   F/w of a cluster  "Frames mm:ss–mm:ss (n):"      start–end = t_min–t_max, time = weighted mean
//   detail     a real frame      "Frame at mm:ss:"              start = end = time = the frame's
//   current    a real frame      "Now mm:ss:"                   start = end = time = the frame's
//
// Times print as mm:ss below an hour and h:mm:ss from an hour on, seconds rounded down.

/// One block of visual tokens for an answer prompt.
public struct MemoryBlock: Sendable {
    /// Where a block comes from.
    public enum Kind: String, Sendable, Hashable {
        /// A synopsis cluster's mean tokens.
        case synopsis
        /// A real past frame chosen for detail.
        case detail
        /// One of the newest frames.
        case current
    }

    /// The block's kind.
    public let kind: Kind
    /// Its tokens, [T×H] fp32 row-major.
    public let tokens: [Float]
    /// The earliest frame time it covers.
    public let start: Double
    /// The latest frame time it covers.
    public let end: Double
    /// The time it is ordered by (a cluster's weighted mean time; a frame's time).
    public let time: Double
    /// Frames it stands for (a cluster's weight; 1 for a frame).
    public let frameCount: Int
    /// The frame's id (detail and current blocks).
    public let frameID: Int?

    /// The text label that precedes the block in a prompt.
    public var label: String {
        switch kind {
        case .synopsis:
            return "Frames \(Self.clock(start))–\(Self.clock(end)) (\(frameCount)):"
        case .detail:
            return "Frame at \(Self.clock(time)):"
        case .current:
            return "Now \(Self.clock(time)):"
        }
    }

    /// `seconds` as mm:ss (h:mm:ss from an hour on), rounded down; negative times print as 00:00.
    public static func clock(_ seconds: Double) -> String {
        let whole = seconds.isFinite ? max(0, Int(seconds.rounded(.down))) : 0
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let (hours, minutes, secs) = (whole / 3600, whole / 60 % 60, whole % 60)
        return hours > 0 ? "\(hours):\(two(minutes)):\(two(secs))" : "\(two(minutes)):\(two(secs))"
    }
}

/// The question classes of the brief's rules (§6.5 step 2), which shift how many blocks of each kind a read gets.
public enum QuestionClass: String, Sendable, Hashable, CaseIterable {
    /// No class cue: the default plan.
    case general
    /// "now", "currently", present tense: more current frames, fewer synopsis blocks.
    case current
    /// "before", "earlier", "when", "how many times": more detail frames, slightly fewer synopsis blocks.
    case past
    /// "summarize", "overall": every synopsis block, no detail frames.
    case global
    /// "tell me when …": a condition to watch for, not a question about what was seen.
    case standing

    /// The class of `question` by simple cues (no model call).
    public static func of(_ question: String) -> QuestionClass {
        let q = " " + question.lowercased() + " "
        func has(_ cues: [String]) -> Bool { cues.contains { q.contains($0) } }
        if has(["tell me when", "notify me", "let me know when", "alert me", "watch for"]) { return .standing }
        if has(["summar", "overall", "what is the video about", "what's the video about", "so far", "whole video",
                "the story"]) { return .global }
        if has([" now", "currently", "right now", "at the moment", "at present", " is happening"]) { return .current }
        if has([" before", " earlier", " did ", " was ", " were ", " when ", " first", " last", "how many times", " ago"]) {
            return .past
        }
        return .general
    }
}

/// How many blocks of each kind a read returns.
public struct ReadPlan: Sendable, Hashable {
    /// Newest frames (n_cur).
    public var currentCount: Int
    /// Synopsis blocks (K of the read; fewer when the synopsis holds fewer clusters).
    public var synopsisCount: Int
    /// Detail frames (R).
    public var detailCount: Int

    /// A plan; the defaults are the brief's for SmolVLM2-256M (2 + 12 + 3 = 17 blocks, 1,088 tokens).
    public init(currentCount: Int = 2, synopsisCount: Int = 12, detailCount: Int = 3) {
        self.currentCount = max(0, currentCount)
        self.synopsisCount = max(0, synopsisCount)
        self.detailCount = max(0, detailCount)
    }

    /// SmolVLM2-500M's default (B = 1,536): K = 8, R = 2.
    public static let smolVLM2_500M = ReadPlan(currentCount: 2, synopsisCount: 8, detailCount: 2)

    /// Blocks a full read returns.
    public var blockCount: Int { currentCount + synopsisCount + detailCount }

    /// This plan (taken as the general class's) shifted for `questionClass`, scaling the brief's 256M figures:
    /// current → n_cur × 2, K × 2/3 (2, 12 → 4, 8); past → K × 5/6, R × 4/3 (12, 3 → 10, 4); global → R = 0
    /// (K unchanged). Counts round to nearest.
    public func shifted(for questionClass: QuestionClass) -> ReadPlan {
        func scaled(_ n: Int, _ numerator: Int, _ denominator: Int) -> Int {
            (n * numerator * 2 + denominator) / (2 * denominator)
        }
        switch questionClass {
        case .general, .standing:
            return self
        case .current:
            return ReadPlan(
                currentCount: currentCount * 2, synopsisCount: scaled(synopsisCount, 2, 3), detailCount: detailCount)
        case .past:
            return ReadPlan(
                currentCount: currentCount, synopsisCount: scaled(synopsisCount, 5, 6),
                detailCount: scaled(detailCount, 4, 3))
        case .global:
            return ReadPlan(currentCount: currentCount, synopsisCount: synopsisCount, detailCount: 0)
        }
    }
}

/// A detail frame a read chose, and why.
public struct DetailChoice: Sendable, Hashable {
    /// Why the frame was chosen.
    public enum Source: Sendable, Hashable {
        /// It is the frame nearest a question-guided time (from a text-memory hit).
        case question(time: Double)
        /// It is the member of the snapshot's cluster at this index (into `clusters`) nearest its centroid.
        case cluster(index: Int)
    }

    /// The frame's id.
    public let frameID: Int
    /// Its media time.
    public let time: Double
    /// Why.
    public let source: Source
}

/// The blocks of one question-time read, by prompt section (§6.5 step 4: synopsis 5, detail 6, current 7).
public struct FeatureMemoryRead: Sendable {
    /// The snapshot's version.
    public let version: Int
    /// The snapshot's time (the newest frame's).
    public let time: Double?
    /// Synopsis blocks, by weighted mean time.
    public let synopsis: [MemoryBlock]
    /// Detail frames, by time.
    public let detail: [MemoryBlock]
    /// Current frames, by time.
    public let current: [MemoryBlock]
    /// Why each detail frame was chosen, by time (`detail` holds the blocks of those still readable).
    public let detailChoices: [DetailChoice]

    /// Every block in prompt order: synopsis, detail, current.
    public var blocks: [MemoryBlock] { synopsis + detail + current }
}
