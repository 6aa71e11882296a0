// The request body of OpenAI's `POST /v1/chat/completions`, as far as Vigil reads it: the model, the messages
// (content as a string or as an array of parts: `text`, `image_url`, `video_url`), `stream` with
// `stream_options.include_usage`, `max_completion_tokens` (or the older `max_tokens`), `temperature`, `top_p`,
// `seed`, `stop`. Two Vigil extensions: `source` (a live source id, instead of `model: "stream:<id>"`) and `window`
// (`{"since": "-120s", "until": …}`, the part of the stream asked about). Unknown fields are ignored, as OpenAI's
// clients send many. Pure data: what the fields mean is up to the caller.
//
// Decoding errors say which field is wrong; `HTTPRequest.decodeJSON` turns them into 400 `bad_request`.

import Foundation

/// A chat-completions request.
public struct ChatCompletionRequest: Decodable, Sendable, Equatable {
    /// The model id (`HuggingFaceTB/SmolVLM2-256M-Video-Instruct`, or `stream:cam1` for a live source).
    public var model: String
    /// The conversation, oldest first; never empty.
    public var messages: [ChatMessage]
    /// Whether to answer as a stream of `chat.completion.chunk` events.
    public var stream: Bool
    /// `stream_options.include_usage`: send a last chunk with token counts.
    public var includeUsage: Bool
    /// `max_completion_tokens`, or `max_tokens` when only that is given; at least 1.
    public var maxTokens: Int?
    /// Sampling temperature, 0 to 2.
    public var temperature: Double?
    /// Nucleus sampling mass, 0 to 1.
    public var topP: Double?
    /// Sampling seed.
    public var seed: Int?
    /// Stop sequences (`stop` as a string or an array).
    public var stop: [String]
    /// Vigil extension: the live source asked about.
    public var source: String?
    /// Vigil extension: the part of the stream asked about.
    public var window: Window?

    /// Vigil extension: a span of a stream, as given (`"-120s"`, an RFC 3339 time, media seconds…).
    public struct Window: Decodable, Sendable, Equatable {
        /// Start of the span.
        public var since: String?
        /// End of the span.
        public var until: String?

        /// A span from `since` to `until`.
        public init(since: String? = nil, until: String? = nil) {
            self.since = since
            self.until = until
        }
    }

    /// A request with these fields.
    public init(
        model: String, messages: [ChatMessage], stream: Bool = false, includeUsage: Bool = false,
        maxTokens: Int? = nil, temperature: Double? = nil, topP: Double? = nil, seed: Int? = nil, stop: [String] = [],
        source: String? = nil, window: Window? = nil
    ) {
        self.model = model
        self.messages = messages
        self.stream = stream
        self.includeUsage = includeUsage
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topP = topP
        self.seed = seed
        self.stop = stop
        self.source = source
        self.window = window
    }

    private enum CodingKeys: String, CodingKey {
        case model, messages, stream, temperature, seed, stop, source, window
        case streamOptions = "stream_options"
        case maxTokens = "max_tokens"
        case maxCompletionTokens = "max_completion_tokens"
        case topP = "top_p"
    }

    private struct StreamOptions: Decodable {
        var includeUsage: Bool?

        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    /// Decodes and checks the fields (ranges, a non-empty conversation).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(String.self, forKey: .model)
        messages = try c.decode([ChatMessage].self, forKey: .messages)
        if messages.isEmpty {
            throw DecodingError.dataCorruptedError(
                forKey: .messages, in: c, debugDescription: "must hold at least one message")
        }
        stream = try c.decodeIfPresent(Bool.self, forKey: .stream) ?? false
        includeUsage = try c.decodeIfPresent(StreamOptions.self, forKey: .streamOptions)?.includeUsage ?? false
        if let value = try c.decodeIfPresent(Int.self, forKey: .maxCompletionTokens) {
            guard value >= 1 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .maxCompletionTokens, in: c, debugDescription: "must be at least 1")
            }
            maxTokens = value
        } else if let value = try c.decodeIfPresent(Int.self, forKey: .maxTokens) {
            guard value >= 1 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .maxTokens, in: c, debugDescription: "must be at least 1")
            }
            maxTokens = value
        } else {
            maxTokens = nil
        }
        temperature = try c.decodeIfPresent(Double.self, forKey: .temperature)
        if let temperature, !(0...2).contains(temperature) {
            throw DecodingError.dataCorruptedError(
                forKey: .temperature, in: c, debugDescription: "must be between 0 and 2")
        }
        topP = try c.decodeIfPresent(Double.self, forKey: .topP)
        if let topP, !(0...1).contains(topP) {
            throw DecodingError.dataCorruptedError(forKey: .topP, in: c, debugDescription: "must be between 0 and 1")
        }
        seed = try c.decodeIfPresent(Int.self, forKey: .seed)
        if let one = try? c.decodeIfPresent(String.self, forKey: .stop) {
            stop = [one]
        } else {
            stop = try c.decodeIfPresent([String].self, forKey: .stop) ?? []
        }
        source = try c.decodeIfPresent(String.self, forKey: .source)
        window = try c.decodeIfPresent(Window.self, forKey: .window)
    }
}

/// One message of the conversation.
public struct ChatMessage: Decodable, Sendable, Equatable {
    /// Who speaks.
    public enum Role: String, Decodable, Sendable {
        case system, developer, user, assistant, tool
    }

    /// The speaker.
    public var role: Role
    /// The content as parts (a string content is one `.text` part; `null` is no part).
    public var content: [ChatContentPart]
    /// The optional participant name.
    public var name: String?

    /// A message from `role` with `content`.
    public init(role: Role, content: [ChatContentPart], name: String? = nil) {
        self.role = role
        self.content = content
        self.name = name
    }

    /// A message from `role` with one text part.
    public init(role: Role, text: String) {
        self.init(role: role, content: [.text(text)])
    }

    /// The text parts joined by newlines.
    public var text: String {
        content.compactMap {
            if case .text(let text) = $0 { return text }
            return nil
        }.joined(separator: "\n")
    }

    private enum CodingKeys: String, CodingKey { case role, content, name }

    /// Decodes a message whose content is a string, an array of parts, or null.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let raw = try? c.decode(String.self, forKey: .role), Role(rawValue: raw) == nil {
            throw DecodingError.dataCorruptedError(
                forKey: .role, in: c,
                debugDescription: "unknown role '\(raw)'; use system, developer, user, assistant or tool")
        }
        role = try c.decode(Role.self, forKey: .role)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        if try c.decodeNil(forKey: .content) {
            content = []
        } else if let text = try? c.decode(String.self, forKey: .content) {
            content = [.text(text)]
        } else {
            content = try c.decode([ChatContentPart].self, forKey: .content)
        }
    }
}

/// One part of a message's content.
public enum ChatContentPart: Decodable, Sendable, Equatable {
    /// `{"type":"text","text":"…"}`.
    case text(String)
    /// `{"type":"image_url","image_url":{"url":"…","detail":"auto"}}`: an `http(s)://`, `file://` or `data:` URL.
    case imageURL(String, detail: String?)
    /// `{"type":"video_url","video_url":{"url":"…"}}` (vLLM, llama.cpp): a recording or a stream URL.
    case videoURL(String)

    private enum CodingKeys: String, CodingKey {
        case type, text
        case imageURL = "image_url"
        case videoURL = "video_url"
    }

    private struct URLObject: Decodable {
        var url: String
        var detail: String?
    }

    /// Decodes a part by its `type`; the URL may be given as an object (`{"url": …}`, OpenAI) or a plain string.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "text":
            self = .text(try c.decode(String.self, forKey: .text))
        case "image_url":
            if let url = try? c.decode(String.self, forKey: .imageURL) {
                self = .imageURL(url, detail: nil)
            } else {
                let object = try c.decode(URLObject.self, forKey: .imageURL)
                self = .imageURL(object.url, detail: object.detail)
            }
        case "video_url":
            if let url = try? c.decode(String.self, forKey: .videoURL) {
                self = .videoURL(url)
            } else {
                self = .videoURL(try c.decode(URLObject.self, forKey: .videoURL).url)
            }
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c,
                debugDescription: "unsupported content part type '\(type)'; use text, image_url or video_url")
        }
    }
}
