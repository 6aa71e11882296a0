// Questions and commentary of a live session (streaming brief M7, M8).
//
// A question is anchored to the media time at which it is asked (the newest frame the ingest has decoded) and
// enters the timeline before any frame later than that, so it is answered against the stream as it was then: the
// frames up to that time are committed first, none after it. At its turn the cache evicts as at any chunk boundary,
// the question may pull matching evicted frames back from the retrieval store into a temporary view (ReKV), and the
// answer is decoded greedily — up to `maxAnswerTokens`, streaming each piece of text as it is produced — then closed
// with `<end_of_utterance>` so the QA block is well formed when it later ages into PREV_TEXT. The encoder runs between
// tokens (it has the higher priority), so ingestion never waits for an answer; frames encoded meanwhile are
// committed after it.
//
// Commentary (off by default) is the same path with the configured prompt, at most `commentaryTokens`, published as
// `segment` events; it is skipped (and counted) when frames are waiting.

import Foundation
import Kernels
import Memory
import SmolVLM
import Synchronization
import VigilCore

/// One update of an answer being produced.
public enum AnswerUpdate: Sendable {
    /// The question is being answered: its id and the media time it was asked at.
    case started(id: String, askedAt: Double)
    /// The next piece of the answer's text.
    case text(String)
    /// The whole answer with timings and evidence (also published as an `answer` event).
    case finished(AnswerEvent)
}

/// A question waiting in the timeline.
final class QuestionEntry: Sendable {
    let id: String
    let text: String
    let askedAt: Double
    /// Monotonic seconds when `ask` was called (time to first token counts from here).
    let askedMonotonic: Double
    let maxTokens: Int
    let allowRetrieval: Bool
    let continuation: AsyncStream<AnswerUpdate>.Continuation
    let source: String
    /// For a question asked now: frames the ingest had sampled by then (all must reach the timeline first). Nil for
    /// a question anchored to a given media time (it waits for a later frame, or the end of the source).
    let sampledAtAsk: Int?

    init(
        id: String, text: String, askedAt: Double, askedMonotonic: Double, maxTokens: Int, allowRetrieval: Bool,
        source: String, sampledAtAsk: Int?, continuation: AsyncStream<AnswerUpdate>.Continuation
    ) {
        self.sampledAtAsk = sampledAtAsk
        self.id = id
        self.text = text
        self.askedAt = askedAt
        self.askedMonotonic = askedMonotonic
        self.maxTokens = maxTokens
        self.allowRetrieval = allowRetrieval
        self.source = source
        self.continuation = continuation
    }

    /// Ends the question with an error answer.
    func fail(_ message: String) {
        let elapsed = (MonotonicClock.seconds - askedMonotonic) * 1000
        continuation.yield(
            .finished(
                AnswerEvent(
                    id: id, source: source, askedAt: askedAt, question: text, text: "", ttftMs: 0, totalMs: elapsed,
                    evidence: [], tokens: 0, stopReason: "error", error: message)))
        continuation.finish()
    }
}

/// A commentary line due after the frame at `time`.
final class CommentaryEntry {
    let time: Double
    let since: Double
    init(time: Double, since: Double) {
        self.time = time
        self.since = since
    }
}

/// Ids of questions ("q1", "q2", …) and standing questions ("w1", …) across the process.
private let questionCounter = Atomic<Int>(0)
let standingCounter = Atomic<Int>(0)

extension LiveSession {
    /// Asks `question` now: it is anchored to the current media time (or to media time `at`, e.g. a question
    /// scripted for a recording) and answered at the next chunk boundary: after every frame up to that time, before
    /// any later frame. The stream yields `.started`, then `.text` pieces, then `.finished` (always last, also on
    /// errors).
    public nonisolated func ask(
        _ question: String, at: Double? = nil, id: String? = nil, maxTokens: Int? = nil, retrieval: Bool = true
    ) -> AsyncStream<AnswerUpdate> {
        let counters = ingest.counters
        let askedAt = at ?? (counters.mediaTime ?? 0)
        let asked = MonotonicClock.seconds
        let (stream, continuation) = AsyncStream<AnswerUpdate>.makeStream()
        let number = questionCounter.wrappingAdd(1, ordering: .relaxed).newValue
        let entry = QuestionEntry(
            id: id ?? "q\(number)", text: question, askedAt: askedAt, askedMonotonic: asked,
            maxTokens: min(maxTokens ?? configuration.maxAnswerTokens, configuration.maxAnswerTokens),
            allowRetrieval: retrieval, source: name, sampledAtAsk: at == nil ? counters.sampled : nil,
            continuation: continuation)
        Task(priority: .high) { await self.enqueue(entry) }
        return stream
    }

    /// The media time questions are anchored to now: the newest frame the ingest has decoded.
    public nonisolated var currentMediaTime: Double { ingest.counters.mediaTime ?? 0 }

    func enqueue(_ q: QuestionEntry) {
        guard !stopped else {
            q.fail("the session has stopped")
            return
        }
        // Before the first frame or question later than it: frames up to its time are answered with, and questions
        // keep their media-time order whatever order their tasks reach the actor in.
        timeline.insert(.question(q), at: insertionIndex(for: q.askedAt))
        commitReady()
        updateStatus()
    }

    func answerLoop() async {
        while !stopped {
            guard !answering, let head = timeline.first else {
                await withCheckedContinuation { answerWaiter = $0 }
                continue
            }
            switch head {
            case .frame:
                await withCheckedContinuation { answerWaiter = $0 }
            case .question(let q):
                guard isDue(q) else {
                    await withCheckedContinuation { answerWaiter = $0 }
                    continue
                }
                timeline.removeFirst()
                answering = true
                await answer(q)
                answering = false
                counters.questionsAnswered += 1
                commitReady()
                wakeEncoder()
                updateStatus()
            case .commentary(let c):
                timeline.removeFirst()
                answering = true
                await comment(c)
                answering = false
                commitReady()
                wakeEncoder()
                updateStatus()
            }
        }
    }

    /// Spans sorted and merged where they touch.
    static func merge(_ spans: [TimeSpan]) -> [TimeSpan] {
        var merged: [TimeSpan] = []
        for s in spans.sorted(by: { $0.start < $1.start }) {
            if let last = merged.last, s.start <= last.end + 1e-9 {
                merged[merged.count - 1].end = max(last.end, s.end)
            } else {
                merged.append(s)
            }
        }
        return merged
    }

    func wakeEncoder() {
        encoderWaiter?.resume()
        encoderWaiter = nil
    }

    /// Where an item of media time `time` goes: before the first frame, question or comment later than it.
    func insertionIndex(for time: Double) -> Int {
        for (i, item) in timeline.enumerated() {
            switch item {
            case .frame(let f) where f.frame.time > time: return i
            case .question(let other) where other.askedAt > time: return i
            case .commentary(let c) where c.time > time: return i
            default: continue
            }
        }
        return timeline.count
    }

    /// Whether every frame up to the question's time has reached the timeline (so it can be answered now).
    func isDue(_ q: QuestionEntry) -> Bool {
        if ingestEnded || stopped { return true }
        if let sampled = q.sampledAtAsk { return counters.framesReceived + ingest.counters.dropped >= sampled }
        return (lastDeliveredTime ?? -.infinity) > q.askedAt
    }

    /// Whether a question is about the present moment (retrieval of old frames is skipped).
    static func isAboutNow(_ question: String) -> Bool {
        let q = " " + question.lowercased() + " "
        let cues = [" now", "right now", "currently", "at the moment", "at present", " this moment", "present moment"]
        return cues.contains { q.contains($0) }
    }

    /// Answers `q`. Its time to first token counts from the moment of asking — or, for a question anchored to a given
    /// media time (scripted, `vigil ask`), from the moment the stream reached it.
    private func answer(_ q: QuestionEntry) async {
        let started = q.sampledAtAsk == nil ? max(q.askedMonotonic, MonotonicClock.seconds) : q.askedMonotonic
        q.continuation.yield(.started(id: q.id, askedAt: q.askedAt))
        let prepared: StreamEngine.PreparedQuestion
        let questionClass = QuestionClass.of(q.text)
        let context = memory.map {
            MemoryContext.build(
                question: q.text, at: q.askedAt, memory: $0, tokenizer: model.tokenizer, budget: configuration.memoryBudget)
        } ?? .empty
        // Beyond the window: the feature memory's clusters and detail frames (not for questions about now, which
        // the window answers).
        var visual: [MemoryBlock] = []
        let snapshotStarted = MonotonicClock.seconds
        if let featureMemory, questionClass != .current, questionClass != .standing,
            let snapshot = try? featureMemory.snapshot(at: q.askedAt),
            case let snapshotMs = (MonotonicClock.seconds - snapshotStarted) * 1000,
            let read = try? snapshot.read(for: questionClass, guidedTimes: context.guidedTimes)
        {
            counters.memorySnapshotLastMs = snapshotMs
            counters.memorySnapshotMaxMs = max(counters.memorySnapshotMaxMs, snapshotMs)
            let windowStart = engine.cache.chunks.first?.time ?? q.askedAt
            visual = (read.synopsis + read.detail).filter { $0.kind == .synopsis || $0.time < windowStart }
        }
        do {
            prepared = try engine.prepareQuestion(
                q.text, askedAt: q.askedAt, maxTokens: q.maxTokens,
                retrieval: q.allowRetrieval && questionClass != .current, context: context, visual: visual)
        } catch {
            q.fail(error.description)
            return
        }
        let evidence = Self.merge(
            engine.evidence(retrieved: prepared.retrievedTimes, until: q.askedAt) + context.evidence
                + visual.map { TimeSpan(start: $0.start, end: $0.end) })
        var generation = engine.beginGeneration(
            prefix: prepared.ids, images: prepared.images, time: q.askedAt, maxTokens: q.maxTokens,
            stopAtNewline: false, started: started)
        while !generation.isFinished && !stopped {
            let piece = engine.step(&generation)
            if !piece.isEmpty { q.continuation.yield(.text(piece)) }
            await Task.yield()  // frames that arrived meanwhile are encoded first
        }
        let result = engine.finishGeneration(&generation, cancelled: stopped)
        if !prepared.retrievedTimes.isEmpty { engine.dropView() }
        let event = AnswerEvent(
            id: q.id, source: name, askedAt: q.askedAt, question: q.text, text: result.text,
            ttftMs: result.ttft * 1000, totalMs: (MonotonicClock.seconds - started) * 1000, evidence: evidence,
            tokens: result.tokens, stopReason: result.reason.rawValue)
        counters.recordAnswer(ttft: result.ttft, total: event.totalMs / 1000)
        events.publish(.answer(event))
        q.continuation.yield(.finished(event))
        q.continuation.finish()
    }

    // MARK: - Commentary

    /// After committing a frame: schedules a commentary line when the mode's trigger fires.
    func maybeScheduleCommentary(after entry: FrameEntry) {
        let mode = configuration.commentary
        guard mode != .off else { return }
        let time = entry.frame.time
        let due = time - lastCommentaryTime >= configuration.commentaryInterval
        let scene = mode == .scene
            && Double(entry.encoded?.report.changedPatchFraction ?? 0) > configuration.sceneChangeFraction
        guard due || scene else { return }
        if unencodedFramesCount >= configuration.maxLagFrames {
            counters.commentarySkipped += 1
            return
        }
        let since = lastCommentaryTime.isFinite ? lastCommentaryTime : max(0, time - configuration.commentaryInterval)
        lastCommentaryTime = time
        timeline.insert(.commentary(CommentaryEntry(time: time, since: since)), at: insertionIndex(for: time))
    }

    private var unencodedFramesCount: Int {
        timeline.reduce(0) { n, item in if case .frame(let f) = item, f.encoded == nil { return n + 1 } else { return n } }
    }

    private func comment(_ c: CommentaryEntry) async {
        let started = MonotonicClock.seconds
        let prepared: StreamEngine.PreparedQuestion
        do {
            prepared = try engine.prepareQuestion(
                configuration.commentaryPrompt, askedAt: c.time, maxTokens: configuration.commentaryTokens,
                retrieval: false)
        } catch {
            counters.commentarySkipped += 1
            return
        }
        var generation = engine.beginGeneration(
            prefix: prepared.ids, time: c.time, maxTokens: configuration.commentaryTokens, stopAtNewline: true,
            started: started)
        while !generation.isFinished && !stopped {
            _ = engine.step(&generation)
            await Task.yield()
        }
        let result = engine.finishGeneration(&generation, cancelled: stopped)
        counters.commentaries += 1
        let text = result.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return }
        events.publish(
            .segment(
                SegmentEvent(
                    source: name, start: c.since, end: c.time, text: text, model: model.name,
                    latencyMs: (MonotonicClock.seconds - started) * 1000, kind: "commentary")))
    }
}
