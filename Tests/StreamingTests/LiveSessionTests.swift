// A live session end to end on the tiny fixture model and the committed sample clips: frames flow through the
// cacher, pruner and block cache; a question asked mid-stream is answered at its media time; the status adds up.

import Foundation
import Memory
import SmolVLM
import Streaming
import Testing
import TestSupport
import VigilCore

@Suite(.serialized, .holdingSerialLock) struct LiveSessionTests {
    static func tinyModel(_ precision: Precision = .fp32) throws -> VisionLanguageModel {
        try VisionLanguageModel.load(folder: Fixtures.url("smolvlm/tiny"), precision: precision)
    }

    static func sample(_ name: String) -> String { Fixtures.repositoryRoot.appendingPathComponent("samples/\(name)").path }

    static func configuration() -> SessionConfiguration {
        var c = SessionConfiguration()
        c.retrievalMiB = 4
        c.pruner.keep = 3
        c.statusInterval = 0.5
        return c
    }

    @Test func fileIsProcessedWholeAndAnAnswerArrives() async throws {
        let model = try Self.tinyModel()
        let session = try LiveSession(model: model, source: Self.sample("static_moving.mp4"), configuration: Self.configuration())
        session.start()
        await session.waitUntilIdle()
        var text = ""
        var finished: AnswerEvent?
        for await update in session.ask("What is moving?") {
            switch update {
            case .text(let piece): text += piece
            case .finished(let answer): finished = answer
            case .started: break
            }
        }
        let status = await session.stop()
        #expect(status.engine.framesCommitted == 12)
        #expect(status.framesDropped == 0)
        let answer = try #require(finished)
        #expect(answer.error == nil)
        #expect(answer.text == text)
        #expect(answer.tokens ?? 0 > 0)
        #expect(status.computedTokens == status.appendedTokens)
        #expect(status.kvTokens <= 4096)
    }

    @Test func commentaryComesAsSegmentsOnSceneChangesAndAtItsInterval() async throws {
        let model = try Self.tinyModel()
        var c = Self.configuration()
        c.commentary = .scene
        c.commentaryInterval = 4
        c.commentaryTokens = 6
        let session = try LiveSession(model: model, source: Self.sample("scene_cut.mp4"), configuration: c)
        let events = session.events.subscribe()
        session.start()
        await session.waitUntilIdle()
        let status = await session.stop()
        session.events.finish()
        var segments: [SegmentEvent] = []
        for await e in events { if case .segment(let s) = e.event { segments.append(s) } }
        // 10 s at 1 fps: the first frame, a comment at least every 4 s, and one right at the cut (t = 5).
        #expect(status.counters.commentaries >= 3)
        #expect(segments.count <= status.counters.commentaries)
        for s in segments {
            #expect(s.kind == "commentary")
            #expect(s.start <= s.end)
        }
        #expect(status.engine.framesCommitted == 10)
        #expect(status.computedTokens == status.appendedTokens + status.probeTokens)
    }

    /// A standing question on a synthetic scene change (bars, then a hard cut at 5 s to another picture): checked at
    /// the start and again only when the picture changed, it fires exactly once, at the cut, as one alert event.
    /// (The tiny model with the real tokenizer says "no" to the condition on the bars and "yes" after the cut.)
    @Test func aStandingQuestionFiresOnceAtTheSceneChange() async throws {
        let model = try VisionLanguageModel.load(folder: Fixtures.url("smolvlm/tiny-realtok"), precision: .fp32)
        var c = Self.configuration()
        c.captions = false
        c.featureMemory = false
        c.standingPollInterval = 1
        let session = try LiveSession(model: model, source: Self.sample("scene_cut.mp4"), configuration: c)
        let events = session.events.subscribe()
        let id = session.watchFor("tell me when the picture changed")
        let other = session.watchFor("the door opens")
        session.start()
        await session.waitUntilIdle()
        let standing = await session.standingQuestions()
        #expect(await session.cancelStanding(other))
        _ = await session.stop()
        session.events.finish()
        var alerts: [AlertEvent] = []
        for await e in events { if case .alert(let a) = e.event { alerts.append(a) } }
        let fired = try #require(standing.first { $0.id == id })
        #expect(fired.condition == "the picture changed")
        #expect(fired.state == .fired)
        #expect(fired.firedAt == 5)
        #expect(fired.checks == 2, "checked at the start and at the change only")
        #expect(alerts.count == 1)
        #expect(alerts.first?.id == id && alerts.first?.at == 5)
        #expect(standing.first { $0.id == other }?.state == .watching)
    }

    @Test func standingRequestsAreRecognised() {
        #expect(QuestionClass.of("Tell me when a truck arrives") == .standing)
        #expect(StandingQuestion.condition(from: "tell me when a truck arrives.") == "a truck arrives")
        #expect(StandingQuestion.condition(from: "a person at the door") == "a person at the door")
        #expect(QuestionClass.of("what is happening now?") == .current)
        #expect(QuestionClass.of("summarize the morning") == .global)
        #expect(QuestionClass.of("when did the truck arrive?") == .past)
    }
}
