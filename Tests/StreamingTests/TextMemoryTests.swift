// The text memory written by the model (memory brief §6.6 checks 8, 9, 15): batch captioning of a clip gives one
// caption per clip, one summary per segment and a stream summary per summary, within their token caps; a resumed
// job writes what an uninterrupted one does; a live session keeps the same cadence in the background and puts the
// memory before questions, reporting it as evidence.

import Foundation
import Memory
import SmolVLM
import Streaming
import Testing
import TestSupport
import VigilCore

@Suite(.serialized, .holdingSerialLock) struct TextMemoryTests {
    static let model = try! VisionLanguageModel.load(folder: Fixtures.url("smolvlm/tiny-realtok"), precision: .fp32)

    /// A `seconds`-long 48×48 clip at 5 fps: a moving square over a static background (ffmpeg, once).
    static func clip(seconds: Double) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-text-memory")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("clip_\(seconds)s.mkv").path
        if FileManager.default.fileExists(atPath: path) { return path }
        try MediaFixtures.ffmpeg([
            "-f", "lavfi", "-i", "color=c=0x305070:s=48x48:r=5:d=\(seconds)",
            "-vf", "drawbox=x='mod(t*4,40)':y=20:w=8:h=8:color=orange:t=fill", "-c:v", "ffv1", path + ".part.mkv",
        ])
        try FileManager.default.moveItem(atPath: path + ".part.mkv", toPath: path)
        return path
    }

    static func settings() -> CaptionSettings {
        var s = CaptionSettings()
        s.schedule = TextMemorySchedule(clipSeconds: 10, segmentSeconds: 30)
        s.fps = 0.6
        s.pruner.keep = 4
        return s
    }

    final class Collected: @unchecked Sendable {
        var entries: [TextMemoryEntry] = []
        let lock = NSLock()
        func add(_ e: TextMemoryEntry) { lock.withLock { entries.append(e) } }
    }

    @Test func batchCaptionsFollowTheScheduleWithinTheirCaps() async throws {
        let source = try Self.clip(seconds: 65)
        let job = CaptionJob(model: Self.model, source: source, settings: Self.settings())
        let collected = Collected()
        let report = try await job.run(onEntry: { collected.add($0) })
        let entries = collected.entries
        #expect(entries == report.entries)
        let clips = entries.filter { $0.level == .clip }
        let segments = entries.filter { $0.level == .segment }
        let summaries = entries.filter { $0.level == .summary }
        // 65 s: six 10-s clips and a final 5-s one; two 30-s segments and the final 5 s; a summary after each.
        #expect(clips.map(\.start) == [0, 10, 20, 30, 40, 50, 60])
        #expect(clips.last?.end == report.duration)
        #expect(segments.map(\.start) == [0, 30, 60])
        #expect(summaries.count == segments.count)
        for (summary, segment) in zip(summaries, segments) {
            #expect(summary.start == 0 && summary.end == segment.end, "the stream summary covers everything so far")
        }
        // Check 9: caps, counted by the tokenizer.
        let tokenizer = Self.model.tokenizer
        for e in entries {
            let cap = e.level == .clip ? 48 : (e.level == .segment ? 80 : 120)
            #expect(tokenizer.encode(e.text).count <= cap)
            #expect(e.tokenCount == tokenizer.encode(e.text).count)
        }
        #expect(report.framesEncoded == 39)
        #expect(report.visionFLOPs < report.visionFullFLOPs, "the cacher saved work")
    }

    @Test func aResumedJobWritesWhatAnUninterruptedOneDoes() async throws {
        let source = try Self.clip(seconds: 65)
        let whole = Collected()
        _ = try await CaptionJob(model: Self.model, source: source, settings: Self.settings()).run(onEntry: { whole.add($0) })
        // Interrupted after the third clip (and the first segment's summaries), after the segment summary but
        // before the stream summary that follows it, and after the first clip: each resumes to the same entries.
        let afterSegment = whole.entries.firstIndex { $0.level == .segment }! + 1
        for cut in [whole.entries.prefix { $0.end <= 30 }.count, afterSegment, 1] {
            let firstPart = Array(whole.entries.prefix(cut))
            let rest = Collected()
            _ = try await CaptionJob(model: Self.model, source: source, settings: Self.settings(), resumeWith: firstPart)
                .run(onEntry: { rest.add($0) })
            let resumed = firstPart + rest.entries
            #expect(resumed.map(\.text) == whole.entries.map(\.text), "cut after \(cut) entries")
            #expect(resumed.map(\.start) == whole.entries.map(\.start), "cut after \(cut) entries")
            #expect(resumed.map(\.level) == whole.entries.map(\.level), "cut after \(cut) entries")
        }
    }

    @Test func aJobStoppedAtATimeHasWhatALiveSessionWouldHaveThen() async throws {
        let source = try Self.clip(seconds: 65)
        let report = try await CaptionJob(model: Self.model, source: source, settings: Self.settings())
            .run(until: 35, onEntry: { _ in })
        #expect(report.entries.filter { $0.level == .clip }.map(\.end) == [10, 20, 30])
        #expect(report.entries.filter { $0.level == .segment }.map(\.end) == [30])
        #expect(report.entries.allSatisfy { $0.end <= 35 })
    }

    /// Check 15 (on a generated 38.8-s clip): 39 frames, one caption of the first 30 s, a question at 35 s answered
    /// with the caption among its evidence.
    @Test func theWholePipelineOnAShortClip() async throws {
        let source = try Self.clip(seconds: 38.8)
        var c = SessionConfiguration()
        c.pruner.keep = 4
        c.retrievalMiB = 2
        c.maxAnswerTokens = 8
        c.statusInterval = 3600
        let session = try LiveSession(model: Self.model, source: source, configuration: c)
        let answer = session.ask("what happened before?", at: 35)
        session.start()
        var finished: AnswerEvent?
        for await u in answer { if case .finished(let a) = u { finished = a } }
        await session.waitUntilIdle()
        let entries = await session.memoryEntries()
        let status = await session.stop()
        #expect(status.engine.framesCommitted == 39)
        #expect(entries.filter { $0.level == .clip }.count == 1)
        let a = try #require(finished)
        #expect(a.error == nil)
        #expect(a.askedAt == 35)
        #expect(a.evidence.contains { $0.start == 0 && $0.end >= 30 }, "the caption of 0–30 s is evidence: \(a.evidence)")
        #expect(a.evidence.allSatisfy { $0.end <= 36 })
    }

    /// Check 8: after T seconds a live session has ⌊T/clip⌋ captions (±1 pending) and ⌊T/segment⌋ summaries.
    @Test func aLiveSessionKeepsTheCadenceInTheBackground() async throws {
        let source = try Self.clip(seconds: 65)
        var c = SessionConfiguration()
        c.pruner.keep = 4
        c.retrievalMiB = 2
        c.memory = TextMemorySchedule(clipSeconds: 10, segmentSeconds: 30)
        c.statusInterval = 3600
        let session = try LiveSession(model: Self.model, source: source, configuration: c)
        session.start()
        await session.waitUntilIdle()
        let entries = await session.memoryEntries()
        let status = await session.stop()
        let clips = entries.filter { $0.level == .clip }.count
        #expect(clips >= 5 && clips <= 6, "\(clips) captions after 65 s")
        #expect(entries.filter { $0.level == .segment }.count == 2)
        #expect(entries.filter { $0.level == .summary }.count == 2)
        #expect(status.counters.captionsSkipped == 0)
        for e in entries { #expect(e.end <= 65) }
    }

    /// `/similar`: on blue, then orange, then blue again, the newest (blue) frame's earlier look-alikes are in the
    /// first blue stretch, not in the orange one nor in the last 30 s.
    @Test func similarMomentsFindTheEarlierLookAlikeScene() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-text-memory")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("aba.mkv").path
        if !FileManager.default.fileExists(atPath: path) {
            let filter = "color=c=0x2040a0:s=48x48:r=1:d=40[a];color=c=0xe07010:s=48x48:r=1:d=40[b];"
                + "color=c=0x2040a0:s=48x48:r=1:d=40[c];[a][b][c]concat=n=3:v=1"
            try MediaFixtures.ffmpeg(["-f", "lavfi", "-i", filter, "-c:v", "ffv1", path])
        }
        var c = SessionConfiguration()
        c.pruner.keep = 4
        c.retrievalMiB = 2
        c.captions = false
        c.statusInterval = 3600
        let session = try LiveSession(model: Self.model, source: path, configuration: c)
        session.start()
        await session.waitUntilIdle()
        let moments = session.similarMoments(count: 3)
        _ = await session.stop()
        let best = try #require(moments.first)
        #expect(best.time < 40, "\(moments)")
        #expect(moments.allSatisfy { $0.time <= 119 - 30 })
        #expect(zip(moments, moments.dropFirst()).allSatisfy { abs($0.time - $1.time) >= 10 && $0.score >= $1.score })
    }
}
