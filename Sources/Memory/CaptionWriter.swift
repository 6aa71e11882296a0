// The caption file writers: pure functions from text memory entries to the UTF-8 text of an SRT, WebVTT, JSON-lines
// or plain-text file (docs/captioning.md). Equal entries and options give equal bytes; nothing depends on the
// clock, the locale or dictionary order.
//
//   SRT, WebVTT  clip captions only, on the cue timeline of CaptionCues (merging, minimum length, no overlap).
//                WebVTT escapes `&`, `<`, `>` as entities. SRT has no escape mechanism and players interpret
//                `<b>`-style tags, so `<` becomes `‹` (U+2039) and `-->` becomes `->`. Timing data never goes in
//                cue text; WebVTT can carry it in NOTE blocks (`timingNotes`).
//   JSONL        every entry of every level (empty captions too), one JSON object a line, in the order entries
//                become available: by end time, then level (clip, segment, summary), then start.
//   TXT          the latest stream summary (if any), a blank line, then the clip captions as `[hh:mm:ss] text`
//                (identical consecutive captions merged, as in the subtitle files).

import VigilCore

/// Renders text memory entries as caption files.
public enum CaptionWriter {
    /// What the subtitle writers do with the clip captions.
    public struct Options: Sendable, Hashable {
        /// Shortest cue, seconds: shorter cues are extended into the gap before the next cue (default 1.0).
        public var minimumCueDuration: Double
        /// Longest gap, seconds, across which identical consecutive captions still merge (default 1.0).
        public var mergeGap: Double
        /// Text of a WebVTT NOTE block written after the header (e.g. the model and settings); nil for none.
        public var note: String?
        /// Writes a WebVTT NOTE before each cue with the model and timings of the captions it came from.
        public var timingNotes: Bool
        /// The media's duration, seconds, when known: the minimum-length rule never extends a cue past it.
        public var mediaDuration: Double?
        /// JSONL: include each entry's wall-clock `created_at` and its `timings`. Off, the file depends on the media
        /// and settings alone, so a resumed run writes the same bytes as an uninterrupted one.
        public var runDetails: Bool

        /// Options with the documented defaults.
        public init(
            minimumCueDuration: Double = 1.0, mergeGap: Double = 1.0, note: String? = nil, timingNotes: Bool = false,
            mediaDuration: Double? = nil, runDetails: Bool = true
        ) {
            self.runDetails = runDetails
            self.minimumCueDuration = minimumCueDuration
            self.mergeGap = mergeGap
            self.note = note
            self.timingNotes = timingNotes
            self.mediaDuration = mediaDuration
        }
    }

    /// The file text of `entries` in `format`.
    public static func render(_ entries: [TextMemoryEntry], as format: CaptionFormat, options: Options = Options())
        -> String
    {
        switch format {
        case .srt: return srt(entries, options: options)
        case .vtt: return webVTT(entries, options: options)
        case .jsonl: return jsonLines(entries, runDetails: options.runDetails)
        case .txt: return text(entries, options: options)
        }
    }

    /// A WebVTT file of the clip captions: `WEBVTT`, an optional NOTE, then one cue per caption.
    public static func webVTT(_ entries: [TextMemoryEntry], options: Options = Options()) -> String {
        var out = "WEBVTT\n"
        if let note = options.note.map(noteText), !note.isEmpty { out += "\nNOTE\n" + note + "\n" }
        for cue in cues(entries, options) {
            if options.timingNotes { out += "\nNOTE\n" + timingNote(cue) + "\n" }
            out +=
                "\n" + Timecode.format(Double(cue.start) / 1000, separator: ".") + " --> "
                + Timecode.format(Double(cue.end) / 1000, separator: ".") + "\n" + escapedForVTT(cue.text) + "\n"
        }
        return out
    }

    /// An SRT file of the clip captions: numbered cues from 1, each followed by a blank line; empty when there are
    /// no captions.
    public static func srt(_ entries: [TextMemoryEntry], options: Options = Options()) -> String {
        var out = ""
        for (index, cue) in cues(entries, options).enumerated() {
            out +=
                String(index + 1) + "\n" + Timecode.format(Double(cue.start) / 1000, separator: ",") + " --> "
                + Timecode.format(Double(cue.end) / 1000, separator: ",") + "\n" + sanitisedForSRT(cue.text) + "\n\n"
        }
        return out
    }

    /// One JSON object per entry and line, every level, ordered by end, then level, then start; without
    /// `runDetails`, the wall-clock `created_at` and the `timings` are left out.
    public static func jsonLines(_ entries: [TextMemoryEntry], runDetails: Bool = true) -> String {
        var out = ""
        for entry in availabilityOrder(entries) {
            out += (runDetails ? entry.jsonLine : JSONValue.object(entry.mediaMembers).serialized()) + "\n"
        }
        return out
    }

    /// The latest stream summary, then the clip captions with `[hh:mm:ss]` stamps of their start.
    public static func text(_ entries: [TextMemoryEntry], options: Options = Options()) -> String {
        var out = ""
        let summaries = entries.enumerated().filter { $0.element.level == .summary }
        let latest = summaries.max { a, b in
            (a.element.end, a.element.createdAt, a.offset) < (b.element.end, b.element.createdAt, b.offset)
        }
        if let summary = latest?.element {
            out +=
                "Summary (" + clockStamp(summary.start) + "–" + clockStamp(summary.end) + ")\n"
                + CaptionCues.singleLine(summary.text) + "\n"
        }
        let captions = CaptionCues.make(entries, minimumDuration: options.minimumCueDuration, mergeGap: options.mergeGap)
        if !out.isEmpty && !captions.isEmpty { out += "\n" }
        for cue in captions { out += "[" + clockStamp(Double(cue.start) / 1000) + "] " + cue.text + "\n" }
        return out
    }

    // MARK: - Helpers

    /// Entries in the order they become available: end, then level, then start, then input order.
    static func availabilityOrder(_ entries: [TextMemoryEntry]) -> [TextMemoryEntry] {
        entries.enumerated().sorted { a, b in
            let x = a.element
            let y = b.element
            if x.end != y.end { return x.end < y.end }
            if x.level != y.level { return x.level < y.level }
            if x.start != y.start { return x.start < y.start }
            return a.offset < b.offset
        }.map(\.element)
    }

    private static func cues(_ entries: [TextMemoryEntry], _ options: Options) -> [CaptionCue] {
        CaptionCues.make(
            entries, minimumDuration: options.minimumCueDuration, mergeGap: options.mergeGap,
            mediaDuration: options.mediaDuration)
    }

    /// `&`, `<`, `>` as WebVTT character references (so neither tags nor `-->` can appear in cue text).
    static func escapedForVTT(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(character)
            }
        }
        return out
    }

    /// SRT-safe text: `<` becomes `‹` (no tags), and `-->` becomes `->` (no timing-line look-alike).
    static func sanitisedForSRT(_ text: String) -> String {
        var out = text.replacing("<", with: "‹")
        while out.contains("-->") { out = out.replacing("-->", with: "->") }
        return out
    }

    /// NOTE block text: no blank lines, no `-->`.
    private static func noteText(_ text: String) -> String {
        let lines = text.split(whereSeparator: \.isNewline).map { CaptionCues.singleLine(String($0)) }
        var out = lines.filter { !$0.isEmpty }.joined(separator: "\n")
        while out.contains("-->") { out = out.replacing("-->", with: "->") }
        return out
    }

    /// One line per caption of the cue: its span, model and timings.
    private static func timingNote(_ cue: CaptionCue) -> String {
        let lines = cue.entries.map { entry in
            var line =
                "clip " + Timecode.format(entry.start, separator: ".") + "–"
                + Timecode.format(entry.end, separator: ".")
            if let model = entry.model { line += " model=" + model }
            for (key, value) in entry.timings.sorted(by: { $0.key < $1.key }) {
                line += " " + key + "=" + JSONValue.double(value).serialized()
            }
            return line
        }
        return noteText(lines.joined(separator: "\n"))
    }

    /// `HH:MM:SS` of `seconds`, rounded down to the second.
    static func clockStamp(_ seconds: Double) -> String {
        String(Timecode.format(Double(CaptionCues.milliseconds(seconds) / 1000), separator: ".").dropLast(4))
    }
}
