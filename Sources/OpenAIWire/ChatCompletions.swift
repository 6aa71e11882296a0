// The response shapes of OpenAI's chat completions and model list, written as JSON with OpenAI's key order and
// explicit nulls (clients such as the official `openai` Python library parse them):
//   non-streaming  {"id","object":"chat.completion","created","model","choices":[{"index","message":{"role",
//                   "content"},"logprobs":null,"finish_reason"}],"usage":{…}}
//   streaming      one `chat.completion.chunk` per SSE `data:` line: first the role, then content deltas, then an
//                   empty delta with `finish_reason`, then (with `include_usage`) a chunk with no choices and the
//                   usage, then `data: [DONE]`. With `include_usage` every other chunk carries `"usage": null`.
//   models         {"object":"list","data":[{"id","object":"model","created","owned_by"}]}

import Foundation
import VigilCore
import VigilCrypto

/// Why generation stopped.
public enum FinishReason: String, Sendable {
    /// The model ended its answer (or hit a stop sequence).
    case stop
    /// The token limit was reached.
    case length
    /// Content was withheld.
    case contentFilter = "content_filter"
    /// The model called a tool.
    case toolCalls = "tool_calls"
}

/// Token counts of one completion.
public struct ChatUsage: Sendable, Equatable {
    /// Tokens of the prompt (including visual tokens).
    public var promptTokens: Int
    /// Tokens generated.
    public var completionTokens: Int

    /// Counts of `promptTokens` and `completionTokens`.
    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }

    /// Their sum.
    public var totalTokens: Int { promptTokens + completionTokens }

    /// `{"prompt_tokens","completion_tokens","total_tokens"}`.
    public var json: JSONValue {
        .object([
            ("prompt_tokens", .int(promptTokens)), ("completion_tokens", .int(completionTokens)),
            ("total_tokens", .int(totalTokens)),
        ])
    }
}

/// A whole (non-streaming) chat completion with one choice.
public struct ChatCompletion: Sendable {
    /// `chatcmpl-…`.
    public var id: String
    /// Unix time in seconds.
    public var created: Int
    /// The model that answered.
    public var model: String
    /// The assistant's answer.
    public var content: String
    /// Why it ended.
    public var finishReason: FinishReason
    /// Token counts, when known.
    public var usage: ChatUsage?

    /// A completion of `content` by `model`.
    public init(
        id: String = ChatCompletion.makeID(), created: Int = ChatCompletion.now(), model: String, content: String,
        finishReason: FinishReason = .stop, usage: ChatUsage? = nil
    ) {
        self.id = id
        self.created = created
        self.model = model
        self.content = content
        self.finishReason = finishReason
        self.usage = usage
    }

    /// The `chat.completion` object.
    public var json: JSONValue {
        .object([
            ("id", .string(id)), ("object", .string("chat.completion")), ("created", .int(created)),
            ("model", .string(model)),
            (
                "choices",
                .array([
                    .object([
                        ("index", .int(0)),
                        ("message", .object([("role", .string("assistant")), ("content", .string(content))])),
                        ("logprobs", .null), ("finish_reason", .string(finishReason.rawValue)),
                    ])
                ])
            ),
            ("usage", usage?.json ?? .null),
        ])
    }

    /// A new completion id: `chatcmpl-` and 24 random hex digits.
    public static func makeID() -> String { "chatcmpl-" + SecureRandom.hexToken(byteCount: 12) }

    /// The current Unix time in whole seconds.
    public static func now() -> Int { Int(Date().timeIntervalSince1970) }
}

/// The chunks of one streamed completion (one choice), each the JSON for one SSE `data:` line.
public struct ChatCompletionChunks: Sendable {
    /// The completion id, the same in every chunk.
    public let id: String
    /// Unix time in seconds, the same in every chunk.
    public let created: Int
    /// The model that answers.
    public let model: String
    /// Whether the client asked for usage (`stream_options.include_usage`).
    public let includeUsage: Bool

    /// The `data:` payload that ends the stream.
    public static let done = "[DONE]"

    /// Chunks of a completion by `model`.
    public init(
        id: String = ChatCompletion.makeID(), created: Int = ChatCompletion.now(), model: String,
        includeUsage: Bool = false
    ) {
        self.id = id
        self.created = created
        self.model = model
        self.includeUsage = includeUsage
    }

    /// The first chunk: the assistant role, empty content.
    public func role() -> JSONValue {
        chunk(delta: .object([("role", .string("assistant")), ("content", .string(""))]), finishReason: nil)
    }

    /// A chunk of answer text.
    public func content(_ text: String) -> JSONValue {
        chunk(delta: .object([("content", .string(text))]), finishReason: nil)
    }

    /// The last chunk with a choice: an empty delta and why the answer ended.
    public func finish(_ reason: FinishReason) -> JSONValue {
        chunk(delta: .object([]), finishReason: reason)
    }

    /// The usage chunk (no choices), sent after `finish` when `includeUsage`.
    public func usage(_ usage: ChatUsage) -> JSONValue {
        .object(header + [("choices", .array([])), ("usage", usage.json)])
    }

    private var header: [(String, JSONValue)] {
        [
            ("id", .string(id)), ("object", .string("chat.completion.chunk")), ("created", .int(created)),
            ("model", .string(model)),
        ]
    }

    private func chunk(delta: JSONValue, finishReason: FinishReason?) -> JSONValue {
        var members = header
        members.append(
            (
                "choices",
                .array([
                    .object([
                        ("index", .int(0)), ("delta", delta), ("logprobs", .null),
                        ("finish_reason", finishReason.map { .string($0.rawValue) } ?? .null),
                    ])
                ])
            ))
        if includeUsage { members.append(("usage", .null)) }
        return .object(members)
    }
}

/// The answer of `GET /v1/models`.
public struct ModelList: Sendable {
    /// One model (or, for Vigil, a live source offered as `stream:<id>`).
    public struct Entry: Sendable {
        /// The model id clients send back in `model`.
        public var id: String
        /// Unix time in seconds.
        public var created: Int
        /// Who owns it.
        public var ownedBy: String

        /// An entry for `id`.
        public init(id: String, created: Int = 0, ownedBy: String = "vigil") {
            self.id = id
            self.created = created
            self.ownedBy = ownedBy
        }
    }

    /// The entries in order.
    public var entries: [Entry]

    /// A list of `entries`.
    public init(_ entries: [Entry]) {
        self.entries = entries
    }

    /// `{"object":"list","data":[…]}`.
    public var json: JSONValue {
        .object([
            ("object", .string("list")),
            (
                "data",
                .array(
                    entries.map {
                        .object([
                            ("id", .string($0.id)), ("object", .string("model")), ("created", .int($0.created)),
                            ("owned_by", .string($0.ownedBy)),
                        ])
                    })
            ),
        ])
    }
}
