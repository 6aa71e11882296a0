// Media time and the sampling rule (docs/ingest.md).
//
// Media time is seconds from the first decoded video frame (that frame is 0.0 whatever the container's start time),
// computed from each frame's own timestamp (`best_effort_timestamp × time_base`), never from an average frame rate,
// a frame count or a container duration. It never goes back: after a reconnect it continues from the time before
// the drop plus the wall-clock gap, and a timestamp that jumps backwards re-anchors the clock.
//
// Sampling at F frames per second: for each target k/F (k = 0, 1, 2, ...) take the first frame whose media time is
// ≥ the target. A frame is used at most once, so a gap that skips several targets yields one sample; after a
// sample at time t the next target is the first k/F > t.

/// Turns frame timestamps into media time.
struct MediaClock {
    /// Media time of the most recent frame; nil before the first.
    private(set) var lastTime: Double?
    private var anchorPTS: Int64?
    private var anchorTime = 0.0
    private var timeBase = 0.0
    private var lastInterval: Double?
    private var lastWallClock: Double?
    private var newSegment = false

    /// Backward jumps larger than this (seconds) re-anchor the clock instead of being clamped.
    static let discontinuity = 1.0

    /// Starts the timeline of a (new) connection whose timestamps count in units of `timeBase` seconds. From the
    /// second segment on, its first frame continues the clock by the wall-clock gap.
    mutating func beginSegment(timeBase: Double) {
        self.timeBase = timeBase
        anchorPTS = nil
        newSegment = lastTime != nil
    }

    /// The media time of a frame with timestamp `pts` (nil when the frame has none), decoded at monotonic time
    /// `wallClock`. `fallbackInterval` (the frame's own duration, or the stream's nominal rate) is used only to place
    /// frames that carry no timestamp.
    mutating func time(pts: Int64?, wallClock: Double, fallbackInterval: Double?) -> Double {
        defer { lastWallClock = wallClock }
        guard let last = lastTime else {
            anchorPTS = pts
            anchorTime = 0
            lastTime = 0
            return 0
        }
        let wallGap = lastWallClock.map { max(0, wallClock - $0) } ?? 0
        if newSegment {
            newSegment = false
            return place(last + wallGap, pts: pts, last: last)
        }
        guard let pts else {
            return place(last + estimatedInterval(fallbackInterval, wallGap: wallGap), pts: nil, last: last)
        }
        guard let anchor = anchorPTS else {
            return place(last + estimatedInterval(fallbackInterval, wallGap: wallGap), pts: pts, last: last)
        }
        let time = anchorTime + Double(pts - anchor) * timeBase
        if time < last - Self.discontinuity {
            return place(last + estimatedInterval(fallbackInterval, wallGap: wallGap), pts: pts, last: last)
        }
        let clamped = max(time, last)
        if clamped > last { lastInterval = clamped - last }
        lastTime = clamped
        return clamped
    }

    /// Records `time` for a frame and, when it has a timestamp, anchors the timeline there.
    private mutating func place(_ time: Double, pts: Int64?, last: Double) -> Double {
        let placed = max(time, last)
        if let pts {
            anchorPTS = pts
            anchorTime = placed
        }
        if placed > last { lastInterval = placed - last }
        lastTime = placed
        return placed
    }

    private func estimatedInterval(_ fallback: Double?, wallGap: Double) -> Double {
        if let fallback, fallback > 0 { return fallback }
        if let lastInterval { return lastInterval }
        return wallGap
    }
}

/// The sampling rule: which frames become samples at `fps`.
struct FrameSampler {
    /// Samples per second of media time.
    let fps: Double
    /// The index k of the next target time k/fps.
    private(set) var nextTarget = 0

    /// Timestamps within this many seconds below a target still count as reaching it (rounding of pts × time base).
    static let tolerance = 1e-6

    /// A sampler whose first target is the first k/fps at or after `start`.
    init(fps: Double, start: Double = 0) {
        precondition(fps > 0, "sampling rate must be positive")
        self.fps = fps
        if start > 0, start.isFinite {
            let first = (start * fps - Self.tolerance * fps).rounded(.up)
            nextTarget = first < Double(Int.max / 2) ? max(0, Int(first)) : Int.max / 2
        }
    }

    /// The next target time in seconds.
    var nextTargetTime: Double { Double(nextTarget) / fps }

    /// Whether the frame at media time `time` is a sample; if so, moves on to the first target after `time`.
    mutating func take(_ time: Double) -> Bool {
        guard time + Self.tolerance >= nextTargetTime else { return false }
        nextTarget = max(nextTarget + 1, Int(((time + Self.tolerance) * fps).rounded(.down)) + 1)
        return true
    }
}
