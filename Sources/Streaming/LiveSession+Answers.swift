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

    init(
        id: String, text: String, askedAt: Double, askedMonotonic: Double, maxTokens: Int, allowRetrieval: Bool,
        source: String, continuation: AsyncStream<AnswerUpdate>.Continuation
    ) {
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

/// Ids of questions ("q1", "q2", …) across the process.
private let questionCounter = Atomic<Int>(0)

extension LiveSession {
    /// Asks `question` now: it is anchored to the current media time and answered at the next chunk boundary.
    /// The stream yields `.started`, then `.text` pieces, then `.finished` (always last, also on errors).
    public nonisolated func ask(
        _ question: String, id: String? = nil, maxTokens: Int? = nil, retrieval: Bool = true
    ) -> AsyncStream<AnswerUpdate> {
        let askedAt = currentMediaTime
        let asked = MonotonicClock.seconds
        let (stream, continuation) = AsyncStream<AnswerUpdate>.makeStream()
        let number = questionCounter.wrappingAdd(1, ordering: .relaxed).newValue
        let entry = QuestionEntry(
            id: id ?? "q\(number)", text: question, askedAt: askedAt, askedMonotonic: asked,
            maxTokens: min(maxTokens ?? configuration.maxAnswerTokens, configuration.maxAnswerTokens),
            allowRetrieval: retrieval, source: name, continuation: continuation)
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
        // Before the first frame later than the question (frames up to its time are answered with).
        var index = timeline.count
        for (i, item) in timeline.enumerated() {
            if case .frame(let f) = item, f.frame.time > q.askedAt {
                index = i
                break
            }
        }
        timeline.insert(.question(q), at: index)
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
                timeline.removeFirst()
                answering = true
                await answer(q)
                answering = false
                counters.questionsAnswered += 1
                commitReady()
                updateStatus()
            case .commentary(let c):
                timeline.removeFirst()
                answering = true
                await comment(c)
                answering = false
                commitReady()
                updateStatus()
            }
        }
    }

    /// Whether a question is about the present moment (retrieval of old frames is skipped).
    static func isAboutNow(_ question: String) -> Bool {
        let q = " " + question.lowercased() + " "
        let cues = [" now", "right now", "currently", "at the moment", "at present", " this moment", "present moment"]
        return cues.contains { q.contains($0) }
    }

    private func answer(_ q: QuestionEntry) async {
        q.continuation.yield(.started(id: q.id, askedAt: q.askedAt))
        let ids = prompt.questionIDs(q.text)
        guard ids.count <= configuration.maxQuestionTokens else {
            q.fail("the question is \(ids.count) tokens long; at most \(configuration.maxQuestionTokens) are taken")
            return
        }
        let reserve = ids.count + q.maxTokens + 1
        do {
            try cache.makeRoom(for: reserve, now: q.askedAt)
        } catch {
            q.fail("the question does not fit: it \(error)")
            return
        }
        // ReKV recall: the question's queries pick evicted frames to bring back for this answer only.
        var viewTimes: [Double] = []
        if q.allowRetrieval && configuration.retrievalBlocks > 0 && !cache.store.blocks.isEmpty
            && !Self.isAboutNow(q.text)
        {
            cache.openBlock(.view, time: q.askedAt)
            generator.prefill(embed(ids, images: nil), queryMeans: queryMeans.floats)
            cache.discardOpenBlock()
            let picks = cache.store.bestMatches(
                queryMeans: queryMeans.floats, heads: model.model.decoder.config.numAttentionHeads,
                k: configuration.retrievalBlocks, latest: q.askedAt)
            viewTimes = cache.spliceView(picks, reserve: reserve)
            counters.retrievedBlocks += viewTimes.count
        }
        let evidence = evidenceSpans(retrieved: viewTimes, until: q.askedAt)
        let result = await generate(
            prefix: ids, maxTokens: q.maxTokens, stopAtNewline: false, time: q.askedAt,
            onText: { q.continuation.yield(.text($0)) }, started: q.askedMonotonic)
        if !viewTimes.isEmpty { cache.dropView() }
        let event = AnswerEvent(
            id: q.id, source: name, askedAt: q.askedAt, question: q.text, text: result.text,
            ttftMs: result.ttft * 1000, totalMs: (MonotonicClock.seconds - q.askedMonotonic) * 1000, evidence: evidence,
            tokens: result.tokens, stopReason: result.reason.rawValue)
        counters.recordAnswer(ttft: result.ttft, total: event.totalMs / 1000)
        events.publish(.answer(event))
        q.continuation.yield(.finished(event))
        q.continuation.finish()
    }

    /// The spans of the stream an answer sees: the window's frames up to `until`, and each retrieved frame.
    func evidenceSpans(retrieved: [Double], until: Double) -> [TimeSpan] {
        let step = 1 / max(configuration.fps, 0.001)
        var spans = retrieved.map { TimeSpan(start: $0, end: $0 + step) }
        let times = cache.chunks.map(\.time).filter { $0 <= until }
        if let first = times.min() { spans.append(TimeSpan(start: first, end: max(until, times.max()!))) }
        // Merge touching spans, in time order.
        spans.sort { $0.start < $1.start }
        var merged: [TimeSpan] = []
        for s in spans {
            if let last = merged.last, s.start <= last.end + 1e-9 {
                merged[merged.count - 1].end = max(last.end, s.end)
            } else {
                merged.append(s)
            }
        }
        return merged
    }

    /// What one generation produced.
    struct Generated {
        var text: String
        var tokens: Int
        var ttft: Double
        var reason: StopReason
    }

    /// Prefills `prefix` as a QA block at `time`, then decodes greedily until a stop token, a newline (when asked),
    /// `maxTokens` or the cap, closing the block with `<end_of_utterance>`. Yields to the encoder between tokens.
    private func generate(
        prefix: [Int], maxTokens: Int, stopAtNewline: Bool, time: Double, onText: (String) -> Void, started: Double
    ) async -> Generated {
        let vocab = model.model.decoder.config.vocabSize
        cache.openBlock(.qa, time: time)
        var logits = generator.step(embed(prefix, images: nil))
        var detokenizer = model.tokenizer.makeStreamingDetokenizer(skipSpecialTokens: true)
        var out = Generated(text: "", tokens: 0, ttft: 0, reason: .maxTokens)
        let newline = model.tokenizer.id(of: "\n") ?? model.tokenizer.id(of: "Ċ")
        while true {
            let id = Sampler.argmax(logits.floats, count: vocab)
            out.tokens += 1
            if out.tokens == 1 { out.ttft = MonotonicClock.seconds - started }
            if stopIDs.contains(id) || (stopAtNewline && id == newline) {
                out.reason = .stopToken
                break
            }
            let piece = detokenizer.append(id)
            if !piece.isEmpty {
                out.text += piece
                onText(piece)
            }
            if out.tokens >= maxTokens || cache.free < 2 {
                out.reason = cache.free < 2 ? .contextFull : .maxTokens
                _ = generator.step(embed([id], images: nil))
                break
            }
            logits = generator.step(embed([id], images: nil))
            await Task.yield()
            if stopped {
                out.reason = .cancelled
                break
            }
        }
        let tail = detokenizer.finish()
        if !tail.isEmpty {
            out.text += tail
            onText(tail)
        }
        // Close the turn so the block reads "…<end_of_utterance>" when it ages into PREV_TEXT.
        if cache.free > 0 { _ = generator.step(embed([prompt.endOfUtteranceID], images: nil)) }
        cache.closeBlock()
        lastCommittedKind = .qa
        counters.answerTokens += out.tokens
        return out
    }

    // MARK: - Commentary

    /// After committing a frame: schedules a commentary line when the mode's trigger fires.
    func maybeScheduleCommentary(after entry: FrameEntry) {
        let mode = configuration.commentary
        guard mode != .off else { return }
        let time = entry.frame.time
        let due = time - lastCommentaryTime >= configuration.commentaryInterval
        let scene = mode == .scene && Double(entry.report?.changedPatchFraction ?? 0) > configuration.sceneChangeFraction
        guard due || scene else { return }
        if unencodedFramesCount >= configuration.maxLagFrames {
            counters.commentarySkipped += 1
            return
        }
        let since = lastCommentaryTime.isFinite ? lastCommentaryTime : max(0, time - configuration.commentaryInterval)
        lastCommentaryTime = time
        var index = timeline.count
        for (i, item) in timeline.enumerated() {
            if case .frame(let f) = item, f.frame.time > time {
                index = i
                break
            }
        }
        timeline.insert(.commentary(CommentaryEntry(time: time, since: since)), at: index)
    }

    private var unencodedFramesCount: Int {
        timeline.reduce(0) { n, item in if case .frame(let f) = item, f.slot == nil { return n + 1 } else { return n } }
    }

    private func comment(_ c: CommentaryEntry) async {
        let ids = prompt.questionIDs(configuration.commentaryPrompt)
        let started = MonotonicClock.seconds
        do {
            try cache.makeRoom(for: ids.count + configuration.commentaryTokens + 1, now: c.time)
        } catch {
            counters.commentarySkipped += 1
            return
        }
        let result = await generate(
            prefix: ids, maxTokens: configuration.commentaryTokens, stopAtNewline: true, time: c.time,
            onText: { _ in }, started: started)
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
