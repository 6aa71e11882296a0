// `POST /v1/chat/completions` in OpenAI's shape, so unmodified clients can ask Vigil. What is asked is the last user
// message's text; where it is asked:
//
//   - a live source (`model: "stream:<id>"`, or the extension field `source`): answered by the session against the
//     stream as it is when the question arrives (the session keeps the conversation: earlier messages are not
//     replayed);
//   - a file (a `video_url` or `image_url` part with an absolute path or file:// URL inside an allowed folder).
//
// `stream: true` gives SSE chunks (role, content deltas, finish, usage with `stream_options.include_usage`, then
// `data: [DONE]`). Decoding is greedy: `temperature`, `top_p`, `seed` and `stop` are accepted and ignored. Answers
// carry an extension object `vigil` (question id, media time asked at, time to first token, evidence spans).

import Foundation
import HTTPServer
import OpenAIWire
import Streaming
import VigilCore

/// Reads an answer stream one update at a time, across the handler and its response's producer.
final class AnswerFeed: @unchecked Sendable {
    // @unchecked: one reader at a time (the handler until it returns, then the stream's producer).
    private var iterator: AsyncStream<AnswerUpdate>.Iterator

    init(_ stream: AsyncStream<AnswerUpdate>) { iterator = stream.makeAsyncIterator() }

    /// The next update, nil once the answer has ended.
    func next() async -> AnswerUpdate? { await iterator.next() }
}

extension Service {
    func addChatRoutes(to router: inout HTTPRouter) {
        router.post("/v1/chat/completions") { [self] request in
            let model = try requireModel()
            let chat = try request.decodeJSON(ChatCompletionRequest.self)
            guard let message = chat.messages.last(where: { $0.role == .user }) else {
                throw HTTPError.badRequest("messages: give at least one message with role 'user' (the question)")
            }
            let question = message.text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !question.isEmpty else {
                throw HTTPError.badRequest("the last user message has no text; write the question in a text part")
            }
            var media: [(url: String, field: String)] = []
            for part in message.content {
                switch part {
                case .imageURL(let url, _): media.append((url, "image_url"))
                case .videoURL(let url): media.append((url, "video_url"))
                case .text: break
                }
            }
            let promptTokens = model.tokenizer.encode(question).count
            let metrics = self.metrics
            let record: @Sendable (AnswerEvent) -> Void = { metrics.observe($0) }
            let sourceID = chat.source ?? (chat.model.hasPrefix("stream:") ? String(chat.model.dropFirst(7)) : nil)
            if let sourceID {
                guard media.isEmpty else {
                    throw HTTPError.badRequest(
                        "ask either about a source (\(chat.model)) or about a file (a \(media[0].field) part), not both")
                }
                let source = try requireSource(sourceID)
                guard let updates = source.ask(question, maxTokens: chat.maxTokens, onFinish: record) else {
                    metrics.questions.increment(labels: ["result": "rejected"])
                    throw APIError.queueFull(
                        "source '\(sourceID)' has \(source.gate.limit) questions waiting; try again shortly",
                        retryAfter: configuration.retryAfterSeconds)
                }
                return try await respond(
                    updates, to: chat, model: "stream:" + sourceID, promptTokens: promptTokens, failureStatus: 503)
            }
            guard let first = media.first else {
                let names = registry.all.map { "stream:" + $0.id }
                throw HTTPError.badRequest(
                    "say what the question is about: model \"stream:<source>\""
                        + (names.isEmpty ? "" : " (\(names.prefix(5).joined(separator: ", ")))")
                        + ", or a video_url/image_url part with a file")
            }
            guard media.count == 1 else {
                throw HTTPError.badRequest("give one video_url or image_url part; this question has \(media.count)")
            }
            let path = try paths.resolve(first.url, what: first.field)
            let updates: AsyncStream<AnswerUpdate>
            do throws(HTTPError) {
                updates = try files.ask(
                    question, path: path, shown: first.url, maxTokens: chat.maxTokens, model: model, onFinish: record,
                    retryAfter: configuration.retryAfterSeconds)
            } catch {
                if error.status == 429 { metrics.questions.increment(labels: ["result": "rejected"]) }
                throw error
            }
            return try await respond(updates, to: chat, model: chat.model, promptTokens: promptTokens, failureStatus: 400)
        }
    }

    /// The answer as a chat completion (whole, or streamed as chunks). Waits for the answer to start, so a question
    /// that cannot be answered gets an HTTP error (`failureStatus`) rather than a broken stream.
    func respond(
        _ updates: AsyncStream<AnswerUpdate>, to chat: ChatCompletionRequest, model: String, promptTokens: Int,
        failureStatus: Int
    ) async throws(HTTPError) -> HTTPResponse {
        let feed = AnswerFeed(updates)
        guard let first = await feed.next() else { throw .unavailable("the question was not answered; try again") }
        if case .finished(let answer) = first, let error = answer.error {
            throw Self.failure(error, status: failureStatus)
        }
        guard chat.stream else {
            var update: AnswerUpdate? = first
            var finished: AnswerEvent?
            while let current = update {
                if case .finished(let answer) = current { finished = answer }
                update = await feed.next()
            }
            guard let answer = finished else { throw .unavailable("the question was not answered; try again") }
            if let error = answer.error { throw Self.failure(error, status: failureStatus) }
            let usage = ChatUsage(promptTokens: promptTokens, completionTokens: answer.tokens ?? 0)
            let completion = ChatCompletion(
                model: model, content: answer.text, finishReason: Self.finishReason(answer), usage: usage)
            return .json(completion.json.appending([("vigil", Self.details(answer))]))
        }
        let chunks = ChatCompletionChunks(model: model, includeUsage: chat.includeUsage)
        return .eventStream { writer in
            try writer.send(json: chunks.role())
            var update: AnswerUpdate? = first
            while let current = update {
                switch current {
                case .started:
                    break
                case .text(let piece):
                    if !piece.isEmpty { try writer.send(json: chunks.content(piece)) }
                case .finished(let answer):
                    if let error = answer.error {
                        let failure = Self.failure(error, status: failureStatus)
                        try writer.send(json: failure.json)
                    } else {
                        try writer.send(
                            json: chunks.finish(Self.finishReason(answer)).appending([("vigil", Self.details(answer))]))
                        if chat.includeUsage {
                            try writer.send(
                                json: chunks.usage(
                                    ChatUsage(promptTokens: promptTokens, completionTokens: answer.tokens ?? 0)))
                        }
                    }
                }
                update = await feed.next()
            }
            try writer.send(data: ChatCompletionChunks.done)
        }
    }

    private static func failure(_ message: String, status: Int) -> HTTPError {
        status == 400 ? .badRequest(message) : .unavailable(message)
    }

    /// `length` when the answer ran out of tokens or room, else `stop`.
    static func finishReason(_ answer: AnswerEvent) -> FinishReason {
        answer.stopReason == "max_tokens" || answer.stopReason == "context_full" ? .length : .stop
    }

    /// The `vigil` extension object of an answer.
    static func details(_ answer: AnswerEvent) -> JSONValue {
        .object([
            ("question_id", .string(answer.id)), ("source", .string(answer.source)), ("asked_at", .double(answer.askedAt)),
            ("ttft_ms", .double(answer.ttftMs.rounded())), ("total_ms", .double(answer.totalMs.rounded())),
            ("evidence", .array(answer.evidence.map(\.json))),
        ])
    }
}
