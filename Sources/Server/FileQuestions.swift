// Questions about a file (chat completions with a `video_url` or `image_url` part): a live session over the file,
// read as fast as the model goes (nothing dropped), asked the question once the whole file is in, then stopped.
// At most `maxFileQuestions` run at once; each is a whole session, so they are expensive.
//
// Interim: Streaming's `FileQuestion` (a captioning pass plus a session that skips what its window cannot hold, as a
// live session at time T would have it) replaces the body of `ask` once it is merged; the interface stays.

import Foundation
import HTTPServer
import SmolVLM
import Streaming
import VigilCore

/// Answers questions about files.
final class FileQuestions: Sendable {
    let gate: QuestionGate
    let defaults: SessionConfiguration
    let scheduler: ComputeScheduler

    init(limit: Int, defaults: SessionConfiguration, scheduler: ComputeScheduler) {
        gate = QuestionGate(limit: limit)
        var c = defaults
        c.realtime = false
        c.retrievalMiB = min(c.retrievalMiB, 64)
        c.persistentSession = nil
        c.sourceName = "file"
        c.statusInterval = 3600
        self.defaults = c
        self.scheduler = scheduler
    }

    /// Asks `question` about the file at `path` (already confined; `shown` is how the client named it). Throws 429
    /// when `maxFileQuestions` are running, 400 when no session can be made for it.
    func ask(
        _ question: String, path: String, shown: String, maxTokens: Int?, model: VisionLanguageModel,
        onFinish: @escaping @Sendable (AnswerEvent) -> Void, retryAfter: Int
    ) throws(HTTPError) -> AsyncStream<AnswerUpdate> {
        guard gate.tryReserve() else {
            throw APIError.queueFull(
                "\(gate.limit) question(s) about files are being answered; try again shortly", retryAfter: retryAfter)
        }
        let session: LiveSession
        do {
            session = try LiveSession(model: model, source: path, configuration: defaults, scheduler: scheduler)
        } catch {
            gate.release()
            throw .badRequest("'\(shown)': \((error as? any UserFacingError)?.description ?? "cannot be read")")
        }
        let (stream, continuation) = AsyncStream<AnswerUpdate>.makeStream()
        let gate = self.gate
        Task {
            session.start()
            await session.waitUntilIdle()
            if session.status.state == .failed || session.status.engine.framesCommitted == 0 {
                let failure = AnswerEvent(
                    id: "file", source: "file", askedAt: 0, question: question, text: "", ttftMs: 0, totalMs: 0,
                    evidence: [], tokens: 0, stopReason: "error",
                    error: "'\(shown)' could not be read as a video or image")
                continuation.yield(.finished(failure))
                onFinish(failure)
            } else {
                for await update in session.ask(question, maxTokens: maxTokens) {
                    continuation.yield(update)
                    if case .finished(let answer) = update { onFinish(answer) }
                }
            }
            _ = await session.stop()
            session.events.finish()
            gate.release()
            continuation.finish()
        }
        return stream
    }
}
