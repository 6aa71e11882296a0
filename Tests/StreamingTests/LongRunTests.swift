// A long synthetic stream through a live session on the tiny model (streaming brief C1, C6, C12, C14): an hour of
// frames at 1 fps keeps the KV bounded and flat, the sink is intact after thousands of evictions, no token is
// prefilled twice, and questions are answered with the frames up to their time and none after.

import Foundation
import SmolVLM
import Streaming
import Testing
import TestSupport
import VigilCore

@Suite(.serialized, .holdingSerialLock) struct LongRunTests {
    /// A `seconds`-long 64×64 clip at 1 fps: a grey scene with a small square moving across it (made with ffmpeg).
    static func syntheticClip(seconds: Int) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-longrun")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent("static_\(seconds)s.mkv")
        if FileManager.default.fileExists(atPath: url.path) { return url }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=0x606060:s=64x64:r=1:d=\(seconds)",
            "-vf", "drawbox=x='mod(t*3,56)':y=20:w=8:h=8:color=red:t=fill", "-c:v", "ffv1", "-pix_fmt", "yuv420p",
            url.path + ".part.mkv",
        ]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "ffmpeg made the synthetic clip")
        try FileManager.default.moveItem(atPath: url.path + ".part.mkv", toPath: url.path)
        return url
    }

    static func configuration() -> SessionConfiguration {
        var c = SessionConfiguration()
        c.retrievalMiB = 2
        c.pruner.keep = 3
        c.statusInterval = 3600
        c.budget = CacheBudget(maxPositions: 1024, visionWindowSeconds: 16, minimumWindowSeconds: 4, textSink: 16, textWindow: 16)
        c.maxAnswerTokens = 16
        c.maxQuestionTokens = 64
        // The KV mechanism alone: memory text and feature blocks would go into the questions' blocks.
        c.captions = false
        c.featureMemory = false
        return c
    }

    @Test func anHourOfFramesStaysBoundedAndPinned() async throws {
        let clip = try Self.syntheticClip(seconds: 3600)
        let model = try VisionLanguageModel.load(folder: Fixtures.url("smolvlm/tiny"), precision: .fp32)
        let configuration = Self.configuration()
        let session = try LiveSession(model: model, source: clip.path, configuration: configuration)
        // Questions scripted at media times through the hour; each must see its frame and nothing later.
        let times: [Double] = [30.5, 600.2, 1800.9, 3500.0]
        var streams: [(Double, AsyncStream<AnswerUpdate>)] = []
        for t in times { streams.append((t, session.ask("what is moving?", at: t))) }
        session.start()
        // Diagnostics only: if the session stops making progress, say where it stands.
        let watchdog = Task {
            var last = -1
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 30_000_000_000)
                let committed = session.status.engine.framesCommitted
                if committed == last { print("no progress in 30 s:", await session.debugDescription()) }
                last = committed
            }
        }
        defer { watchdog.cancel() }
        var answers: [AnswerEvent] = []
        for (_, stream) in streams {
            for await update in stream { if case .finished(let a) = update { answers.append(a) } }
        }
        await session.waitUntilIdle()
        let inspection = await session.inspectCache()
        let status = await session.stop()

        let e = status.engine
        #expect(e.framesCommitted == 3600)
        #expect(status.framesDropped == 0)
        // C1: bounded, and flat once the windows are full.
        #expect(e.kvMaxEver <= configuration.budget.maxPositions)
        let mean = try #require(e.kvSteadyMean)
        #expect(Double(e.kvSteadyMax - e.kvSteadyMin) <= 0.10 * mean, "KV tokens \(e.kvSteadyMin)…\(e.kvSteadyMax) around \(mean)")
        #expect(inspection.problems.isEmpty, "\(inspection.problems)")
        // C6: the sink is still first and still holds the instruction's K/V after thousands of evictions.
        #expect(status.evictedBlocks >= 3500)
        #expect(inspection.sinkIntact)
        #expect(inspection.blocks.first?.kind == .sink)
        // C14: everything in the cache was computed exactly once (probes aside).
        #expect(status.computedTokens == status.appendedTokens + status.probeTokens)
        // The retrieval store is bounded by its cap.
        #expect(status.retrievalReservedBytes <= 2 << 20)
        #expect(status.retrievalThinned > 0)
        // C12: a question at t sees the frame at ⌊t⌋ and nothing after t + 1.
        #expect(answers.count == times.count)
        for (t, answer) in zip(times, answers) {
            #expect(answer.error == nil)
            #expect(answer.askedAt == t)
            let window = try #require(answer.evidence.last)
            #expect(window.start <= t.rounded(.down) && window.end >= t.rounded(.down), "t = \(t): \(answer.evidence)")
            #expect(answer.evidence.allSatisfy { $0.end <= t + 1 }, "t = \(t): \(answer.evidence)")
        }
    }
}
