// The caption writers: SRT and WebVTT files that pass the strict parsers and ffmpeg's own demuxers, the merging,
// minimum-length and escaping rules, the JSON-lines and text files, and the format list parser.

import Foundation
import TestSupport
import Testing

@testable import Memory

@Suite struct CaptionWriterTests {}

/// A clip caption at [start, end] with a fixed creation time.
func clip(_ start: Double, _ end: Double, _ text: String, model: String? = nil, timings: [String: Double] = [:])
    -> TextMemoryEntry
{
    TextMemoryEntry(
        level: .clip, start: start, end: end, text: text, tokenCount: text.split(separator: " ").count,
        createdAt: Date(timeIntervalSince1970: 1_780_000_000 + start), model: model, timings: timings)
}

extension CaptionWriterTests {
    @Test func vttAndSrtHaveTheFormatsShape() throws {
        let entries = [
            clip(0, 30, "A man walks a dog."), clip(30, 60, "A red car parks."), clip(3600, 3630.5, "Rain."),
        ]
        let vtt = CaptionWriter.webVTT(entries)
        #expect(
            vtt == """
                WEBVTT

                00:00:00.000 --> 00:00:30.000
                A man walks a dog.

                00:00:30.000 --> 00:01:00.000
                A red car parks.

                01:00:00.000 --> 01:00:30.500
                Rain.

                """)
        let srt = CaptionWriter.srt(entries)
        #expect(
            srt == """
                1
                00:00:00,000 --> 00:00:30,000
                A man walks a dog.

                2
                00:00:30,000 --> 00:01:00,000
                A red car parks.

                3
                01:00:00,000 --> 01:00:30,500
                Rain.


                """)
        #expect(
            try SubtitleParsers.webVTT(vtt).cues.map(\.text) == ["A man walks a dog.", "A red car parks.", "Rain."])
        #expect(try SubtitleParsers.srt(srt).map(\.start) == [0, 30_000, 3_600_000])
    }

    @Test func onlyClipCaptionsBecomeCuesAndEmptyOnesAreSkipped() throws {
        let entries = [
            clip(0, 30, "One."), clip(30, 60, "   \n\t "), clip(60, 90, ""),
            TextMemoryEntry(level: .segment, start: 0, end: 300, text: "Segment.", tokenCount: 1),
            TextMemoryEntry(level: .summary, start: 0, end: 300, text: "Summary.", tokenCount: 1),
            clip(90, 120, "Two."),
        ]
        let cues = try SubtitleParsers.srt(CaptionWriter.srt(entries))
        #expect(cues.map(\.text) == ["One.", "Two."])
        #expect(try SubtitleParsers.webVTT(CaptionWriter.webVTT(entries)).cues.count == 2)
        #expect(CaptionWriter.srt([]) == "")
        #expect(CaptionWriter.webVTT([]) == "WEBVTT\n")
    }

    @Test func identicalConsecutiveCaptionsMergeIntoOneCue() throws {
        let entries = [
            clip(0, 30, "A man sits at a desk."), clip(30, 60, "a man  sits at a desk"),
            clip(60, 90, "A MAN SITS AT A DESK!"),
            clip(90, 120, "A woman enters."), clip(120, 150, "A man sits at a desk."),
        ]
        let cues = try SubtitleParsers.srt(CaptionWriter.srt(entries))
        #expect(cues.map(\.text) == ["A man sits at a desk.", "A woman enters.", "A man sits at a desk."])
        #expect(cues.map(\.start) == [0, 90_000, 120_000])
        #expect(cues.map(\.end) == [90_000, 120_000, 150_000])
    }

    @Test func identicalCaptionsAcrossALargeGapStaySeparate() throws {
        let entries = [clip(0, 30, "Empty room."), clip(60, 90, "Empty room."), clip(90.5, 120, "Empty room.")]
        let cues = try SubtitleParsers.srt(CaptionWriter.srt(entries))
        #expect(cues.map(\.start) == [0, 60_000])
        #expect(cues.map(\.end) == [30_000, 120_000])
        let wide = try SubtitleParsers.srt(CaptionWriter.srt(entries, options: .init(mergeGap: 30)))
        #expect(wide.map(\.end) == [120_000])
    }

    @Test func shortCuesGrowIntoTheGapButNeverOverlapTheNext() throws {
        let entries = [
            clip(0, 0.2, "Flash."),  // gap of 9.8 s after it: grows to 1.0 s
            clip(10, 10.1, "Blink."),  // next starts at 10.5: grows to 10.5 only
            clip(10.5, 11.9, "Long enough."),
            clip(20, 20, "Zero length."),  // grows to 21.0
            clip(30, 30, "Dropped."),  // next starts at the same millisecond: nothing left of it
            clip(30, 30.4, "Last."),  // grows to 31.0
        ]
        let cues = try SubtitleParsers.srt(CaptionWriter.srt(entries))
        #expect(cues.map(\.text) == ["Flash.", "Blink.", "Long enough.", "Zero length.", "Last."])
        #expect(cues.map(\.end) == [1000, 10_500, 11_900, 21_000, 31_000])
        let longer = try SubtitleParsers.webVTT(CaptionWriter.webVTT(entries, options: .init(minimumCueDuration: 2)))
        #expect(longer.cues.map(\.end) == [2000, 10_500, 12_500, 22_000, 32_000])
        // Not past the end of the media (a cue already past it stays as the model timed it).
        let clamped = try SubtitleParsers.srt(CaptionWriter.srt(entries, options: .init(mediaDuration: 30.7)))
        #expect(clamped.map(\.end) == [1000, 10_500, 11_900, 21_000, 30_700])
    }

    @Test func overlappingAndUnsortedCaptionsBecomeAnOrderedTimeline() throws {
        let entries = [
            clip(60, 90, "Third."), clip(0, 40, "First."), clip(30, 60, "Second."), clip(30, 45, "Also second."),
        ]
        let cues = try SubtitleParsers.webVTT(CaptionWriter.webVTT(entries)).cues
        // "Second." [30, 60] is cut to nothing by "Also second." starting at the same time: the later one wins.
        #expect(cues.map(\.text) == ["First.", "Also second.", "Third."])
        #expect(cues.map(\.start) == [0, 30_000, 60_000])
        #expect(cues.map(\.end) == [30_000, 45_000, 90_000])
    }

    @Test func captionTextIsEscapedForEachFormat() throws {
        let tricky = [
            clip(0, 30, "Sign says --> EXIT"),
            clip(30, 60, "First line.\n\nSecond line after a blank line.\r\n00:00:01,000 --> 00:00:02,000"),
            clip(60, 90, "A <b>bold</b> claim & <i>more</i> > less"),
            clip(90, 120, "Café «Ünïcødé» 東京 🚲 — done"),
            clip(120, 150, "--->"),
            clip(150, 180, "NOTE this is cue text\n42"),
        ]
        let vtt = try SubtitleParsers.webVTT(CaptionWriter.webVTT(tricky))
        #expect(
            vtt.cues.map(\.text) == [
                "Sign says --> EXIT",
                "First line. Second line after a blank line. 00:00:01,000 --> 00:00:02,000",
                "A <b>bold</b> claim & <i>more</i> > less",
                "Café «Ünïcødé» 東京 🚲 — done",
                "--->",
                "NOTE this is cue text 42",
            ])
        #expect(CaptionWriter.webVTT(tricky).contains("A &lt;b&gt;bold&lt;/b&gt; claim &amp; &lt;i&gt;"))
        let srt = try SubtitleParsers.srt(CaptionWriter.srt(tricky))
        #expect(
            srt.map(\.text) == [
                "Sign says -> EXIT",
                "First line. Second line after a blank line. 00:00:01,000 -> 00:00:02,000",
                "A ‹b>bold‹/b> claim & ‹i>more‹/i> > less",
                "Café «Ünïcødé» 東京 🚲 — done",
                "->",
                "NOTE this is cue text 42",
            ])
    }

    @Test func timingDataStaysOutOfCueTextAndCanGoInNotes() throws {
        let entries = [
            clip(0, 30, "A dog.", model: "SmolVLM2-256M", timings: ["latency_ms": 310, "prefill_ms": 120.5]),
            clip(30, 60, "A dog.", model: "SmolVLM2-256M", timings: ["latency_ms": 295]),
        ]
        let plain = try SubtitleParsers.webVTT(CaptionWriter.webVTT(entries))
        #expect(plain.notes.isEmpty && plain.cues.map(\.text) == ["A dog."])
        let options = CaptionWriter.Options(note: "Vigil captions\n\nmodel --> SmolVLM2", timingNotes: true)
        let noted = try SubtitleParsers.webVTT(CaptionWriter.webVTT(entries, options: options))
        #expect(noted.cues.map(\.text) == ["A dog."])
        #expect(
            noted.notes == [
                "NOTE\nVigil captions\nmodel -> SmolVLM2",
                "NOTE\nclip 00:00:00.000–00:00:30.000 model=SmolVLM2-256M latency_ms=310.0 prefill_ms=120.5\n"
                    + "clip 00:00:30.000–00:01:00.000 model=SmolVLM2-256M latency_ms=295.0",
            ])
        #expect(!CaptionWriter.srt(entries).contains("310"))
    }

    @Test(.enabled(if: ffmpegIsInstalled)) func ffmpegReadsTheSubtitleFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-captions-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var entries = (0..<40).map { clip(Double($0) * 30, Double($0 + 1) * 30, "Caption number \($0 / 2).") }
        entries += [
            clip(1200, 1200.2, "Sign says --> EXIT & <b>bold</b>"), clip(1201, 1230, "Line one.\n\nLine two."),
            clip(1230, 1260, "Café 東京 🚲"),
        ]
        let options = CaptionWriter.Options(note: "Vigil test", timingNotes: true)
        for format in [CaptionFormat.vtt, .srt] {
            let path = folder.appendingPathComponent("out." + format.fileExtension).path
            try AtomicFile.write(CaptionWriter.render(entries, as: format, options: options), to: path)
            // The brief's `ffmpeg -i out.vtt -f null -` alone fails for any subtitle-only file with FFmpeg 5.1
            // ("Output file #0 does not contain any stream"): the null muxer has no default subtitle encoder, so
            // the cues are decoded and re-encoded as ASS explicitly.
            let check = try MediaFixtures.runTool(
                "ffmpeg", ["-nostdin", "-v", "error", "-i", path, "-map", "0", "-c:s", "ass", "-f", "null", "-"])
            #expect(check.status == 0 && check.stderr.isEmpty, "ffmpeg -i \(path): \(check.stderr)")
            // ffmpeg's own reading of the cues, converted to SRT, has the same timeline. (Its SRT is not held to
            // our parser: it unescapes `--&gt;` back to `-->` in cue text.)
            let converted = try MediaFixtures.runTool(
                "ffmpeg", ["-nostdin", "-v", "error", "-i", path, "-f", "srt", "-"])
            #expect(converted.status == 0, "\(converted.stderr)")
            let cues = timingLines(String(decoding: converted.stdout, as: UTF8.self))
            let ours = try SubtitleParsers.srt(CaptionWriter.srt(entries, options: options))
            #expect(cues.map(\.0) == ours.map(\.start) && cues.map(\.1) == ours.map(\.end), "\(format)")
            #expect(cues.count == 23)
        }
    }

    @Test func jsonLinesHoldEveryEntryInAvailabilityOrder() throws {
        let entries = [
            TextMemoryEntry(level: .summary, start: 0, end: 60, text: "Whole stream.", tokenCount: 2),
            TextMemoryEntry(level: .segment, start: 0, end: 60, text: "Segment one.", tokenCount: 2),
            clip(30, 60, "Second clip.", model: "m", timings: ["latency_ms": 12.5]),
            clip(0, 30, ""),
        ]
        let text = CaptionWriter.jsonLines(entries)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(text.hasSuffix("\n") && lines.count == 4)
        let decoded = try lines.map { try TextMemoryEntry(jsonLine: $0) }
        #expect(decoded.map(\.level) == [.clip, .clip, .segment, .summary])
        #expect(decoded.map(\.start) == [0, 30, 0, 0])
        #expect(Set(decoded) == Set(entries))
        #expect(lines[1].hasPrefix(#"{"level":"clip","start":30.0,"end":60.0,"text":"Second clip.","tokens":2,"#))
        #expect(lines[1].hasSuffix(#","model":"m","timings":{"latency_ms":12.5}}"#))
    }

    @Test func textFileHasTheSummaryThenStampedCaptions() {
        let entries = [
            clip(0, 30, "A man enters."), clip(30, 60, "A man enters"), clip(65.9, 90, "He sits\ndown."),
            clip(3725, 3755, "Lights go out."),
            TextMemoryEntry(level: .summary, start: 0, end: 300, text: "Old summary.", tokenCount: 2),
            TextMemoryEntry(level: .segment, start: 0, end: 300, text: "Segment.", tokenCount: 1),
            TextMemoryEntry(
                level: .summary, start: 0, end: 3755, text: "A man enters,\nsits, and the lights go out.", tokenCount: 9
            ),
        ]
        #expect(
            CaptionWriter.text(entries) == """
                Summary (00:00:00–01:02:35)
                A man enters, sits, and the lights go out.

                [00:00:00] A man enters.
                [00:01:05] He sits down.
                [01:02:05] Lights go out.

                """)
        #expect(CaptionWriter.text([clip(0, 30, "Only.")]) == "[00:00:00] Only.\n")
        #expect(CaptionWriter.text([]) == "")
    }

    @Test func outputIsDeterministic() {
        let entries = (0..<50).map { clip(Double($0) * 7.3, Double($0) * 7.3 + 9, "Caption \($0 % 7) of the day.") }
        for format in CaptionFormat.allCases {
            let once = CaptionWriter.render(entries, as: format)
            #expect(CaptionWriter.render(entries, as: format) == once)
            #expect(CaptionWriter.render(entries.shuffled(), as: format) == once, "\(format) depends on input order")
        }
    }

    @Test func formatListsParseWithClearErrors() throws {
        #expect(try CaptionFormat.parseList("srt,vtt") == [.srt, .vtt])
        #expect(try CaptionFormat.parseList("all") == [.srt, .vtt, .jsonl, .txt])
        #expect(try CaptionFormat.parseList(" TXT , srt,srt ") == [.srt, .txt])
        #expect(try CaptionFormat.parseList("vtt,all") == CaptionFormat.allCases)
        #expect(throws: MemoryError.unknownCaptionFormat(name: "xml")) { try CaptionFormat.parseList("srt,xml") }
        #expect(throws: MemoryError.emptyCaptionFormatList) { try CaptionFormat.parseList(" , ") }
        #expect("\(MemoryError.unknownCaptionFormat(name: "xml"))".contains("srt, vtt, jsonl, txt, or all"))
    }
}

/// The (start, end) milliseconds of every SRT timing line in `text`, whatever the cue text holds.
private func timingLines(_ text: String) -> [(Int64, Int64)] {
    func milliseconds(_ stamp: Substring) -> Int64? {
        let parts = stamp.split(whereSeparator: { $0 == ":" || $0 == "," }).compactMap { Int64($0) }
        guard parts.count == 4 else { return nil }
        return ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000 + parts[3]
    }
    return text.split(separator: "\n").compactMap { line in
        let sides = line.split(separator: " --> ", omittingEmptySubsequences: false)
        guard sides.count == 2, let start = milliseconds(sides[0]), let end = milliseconds(sides[1]) else { return nil }
        return (start, end)
    }
}

/// True when the ffmpeg CLI is on PATH.
let ffmpegIsInstalled: Bool = {
    (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
        FileManager.default.isExecutableFile(atPath: $0 + "/ffmpeg")
    }
}()
