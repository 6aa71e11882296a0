// The cue timeline that the SRT, WebVTT and text writers share, built from clip captions in whole milliseconds
// (the resolution of both subtitle formats, so rounding can never make two cues overlap):
//
//   1. Clip entries only; text made single-line (every whitespace run, newlines included, becomes one space;
//      control characters go); empty captions skipped.
//   2. Sorted by start (stable). A caption that starts before the previous one ends cuts the previous one short;
//      a previous cue cut to nothing is dropped (the newer caption of the same moment wins).
//   3. Consecutive captions that say the same thing (equal after lower-casing and dropping trailing punctuation)
//      merge into one cue when the gap between them is at most `mergeGap`: the first's text, spanning both.
//   4. A cue shorter than `minimumDuration` is extended into the gap before the next cue, never past its start
//      (nor past the media's end, when known).
//   5. Cues still of zero length (the next cue starts at the same millisecond) are dropped.
//
// Result: cues with start < end, in order, end_i ≤ start_(i+1), never empty.

/// One subtitle cue: a span in milliseconds, its single-line text, and the entries it came from.
struct CaptionCue: Sendable, Equatable {
    /// Start, milliseconds of media time.
    var start: Int64
    /// End, milliseconds of media time (> start).
    var end: Int64
    /// The caption text on one line, not yet escaped for a format.
    var text: String
    /// The clip entries merged into this cue, in time order.
    var entries: [TextMemoryEntry]
}

/// Builds the cue timeline of clip captions.
enum CaptionCues {
    /// The cues of the clip entries of `entries` (other levels are ignored).
    static func make(
        _ entries: [TextMemoryEntry], minimumDuration: Double, mergeGap: Double, mediaDuration: Double? = nil
    ) -> [CaptionCue] {
        var candidates: [CaptionCue] = []
        for entry in entries where entry.level == .clip {
            let text = singleLine(entry.text)
            guard !text.isEmpty else { continue }
            let start = milliseconds(entry.start)
            candidates.append(
                CaptionCue(start: start, end: max(start, milliseconds(entry.end)), text: text, entries: [entry]))
        }
        // Stable sort by start: Swift's sort is not guaranteed stable, so break ties by input position.
        let ordered = candidates.enumerated().sorted { a, b in
            a.element.start != b.element.start ? a.element.start < b.element.start : a.offset < b.offset
        }.map(\.element)

        var cues: [CaptionCue] = []
        for cue in ordered {
            if var previous = cues.last, cue.start < previous.end {
                previous.end = cue.start
                cues.removeLast()
                if previous.end > previous.start { cues.append(previous) }
            }
            cues.append(cue)
        }

        let gap = milliseconds(mergeGap)
        var merged: [CaptionCue] = []
        for cue in cues {
            if var previous = merged.last, cue.start - previous.end <= gap,
                comparable(previous.text) == comparable(cue.text)
            {
                previous.end = cue.end
                previous.entries += cue.entries
                merged[merged.count - 1] = previous
            } else {
                merged.append(cue)
            }
        }

        let minimum = milliseconds(minimumDuration)
        let mediaEnd = mediaDuration.map(milliseconds) ?? Int64.max
        for index in merged.indices where merged[index].end - merged[index].start < minimum {
            let limit = index + 1 < merged.count ? merged[index + 1].start : Int64.max
            merged[index].end = max(merged[index].end, min(merged[index].start + minimum, limit, mediaEnd))
        }
        return merged.filter { $0.end > $0.start }
    }

    /// Seconds as whole milliseconds (rounded; negative clamps to 0, and beyond Int64.max / 4 — a time read from a
    /// damaged journal — clamps there, like +infinity).
    static func milliseconds(_ seconds: Double) -> Int64 {
        guard seconds.isFinite else { return seconds > 0 ? Int64.max / 4 : 0 }
        let rounded = (max(0, seconds) * 1000).rounded()
        return rounded < Double(Int64.max / 4) ? Int64(rounded) : Int64.max / 4
    }

    /// `text` on one line: whitespace runs (newlines included) become one space, control characters are removed,
    /// and the ends are trimmed.
    static func singleLine(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace {
                pendingSpace = !out.isEmpty
                continue
            }
            if scalar.properties.generalCategory == .control { continue }
            if pendingSpace {
                out.append(" ")
                pendingSpace = false
            }
            out.append(scalar)
        }
        return String(out)
    }

    /// The form two captions are compared in for merging: lower-cased, trailing punctuation dropped.
    static func comparable(_ singleLineText: String) -> String {
        var text = Substring(singleLineText.lowercased())
        while let last = text.last, last.isPunctuation || last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
