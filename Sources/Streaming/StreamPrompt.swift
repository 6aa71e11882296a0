// The token layout of a live session, in SmolVLM2's chat format (transformers' SmolVLMProcessor renders the same
// pieces for a recorded video; see SmolVLM/Processing/PromptBuilder.swift):
//
//   SINK      <|im_start|>[System: S<end_of_utterance>\n]User: INSTRUCTION
//             You are provided the following series of frames from a live video.
//   CHUNK(t)  [\nUser:]\nFrame from MM:SS:<fake_token_around_image><global-img><image>×k<fake_token_around_image>
//   QA(t)     \n\nQUESTION<end_of_utterance>\nAssistant: ANSWER<end_of_utterance>
//
// A recorded video's prompt states the frame count and duration up front ("series of sixteen frames from a 0:00:16
// video"), which a live stream cannot know; the sink says "frames from a live video" instead. Each piece is
// tokenised on its own, so every piece except the sink ends on a special token (`<fake_token_around_image>`,
// `<end_of_utterance>`) and begins with text: tokenising chunk by chunk then gives exactly the ids of tokenising the
// whole string (the tests check this with the real tokenizer). After a QA the next chunk reopens the user's turn.
// Times are media times: "Frame from 83:05" past an hour (minutes keep counting, as the processor writes them).

import SmolVLM
import Tokenization

/// Builds the token ids of a session's blocks.
public struct StreamPrompt: Sendable {
    public let tokenizer: Tokenizer
    public let imageTokenID: Int
    public let endOfUtteranceID: Int
    private let fakeTokenAroundImageID: Int
    private let globalImageID: Int

    /// The prompt pieces of `model`; throws when its tokenizer lacks SmolVLM2's special tokens.
    public init(model: VisionLanguageModel) throws(StreamPromptError) {
        tokenizer = model.tokenizer
        imageTokenID = model.model.config.imageTokenID
        func id(_ token: String) throws(StreamPromptError) -> Int {
            guard let id = model.tokenizer.id(of: token) else { throw StreamPromptError(token: token) }
            return id
        }
        endOfUtteranceID = try id(PromptBuilder.endOfUtterance)
        fakeTokenAroundImageID = try id(PromptBuilder.fakeTokenAroundImage)
        globalImageID = try id(PromptBuilder.globalImageToken)
    }

    /// The sink text: the standing instruction (and system prompt) pinned for the whole session.
    public static func sinkText(instruction: String, system: String?) -> String {
        var out = PromptBuilder.beginOfConversation
        if let system { out += "System: " + system + PromptBuilder.endOfUtterance + "\n" }
        out += "User: " + instruction + "\nYou are provided the following series of frames from a live video."
        return out
    }

    /// The text of one frame's chunk with `imageTokens` image tokens.
    public static func chunkText(time: Double, imageTokens: Int, reopensTurn: Bool) -> String {
        let seconds = max(0, time.isFinite ? time : 0)
        let minutes = Int(seconds / 60)
        let rest = Int(seconds.truncatingRemainder(dividingBy: 60))
        return (reopensTurn ? "\nUser:" : "") + "\nFrame from \(twoDigits(minutes)):\(twoDigits(rest)):"
            + PromptBuilder.fakeTokenAroundImage + PromptBuilder.globalImageToken
            + String(repeating: PromptBuilder.imageToken, count: imageTokens) + PromptBuilder.fakeTokenAroundImage
    }

    /// The text of a question up to where the answer starts.
    public static func questionText(_ question: String) -> String {
        "\n\n" + question + PromptBuilder.endOfUtterance + "\nAssistant:"
    }

    /// Sink ids.
    public func sinkIDs(instruction: String, system: String?) -> [Int] {
        tokenizer.encode(Self.sinkText(instruction: instruction, system: system))
    }

    /// A chunk's ids; its `<image>` ids are replaced by the frame's kept tokens when embedded.
    public func chunkIDs(time: Double, imageTokens: Int, reopensTurn: Bool) -> [Int] {
        tokenizer.encode(Self.chunkText(time: time, imageTokens: imageTokens, reopensTurn: reopensTurn))
    }

    /// A question's ids (up to "Assistant:").
    public func questionIDs(_ question: String) -> [Int] {
        tokenizer.encode(Self.questionText(question))
    }

    private static func twoDigits(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}

/// The model's tokenizer lacks a special token the live prompt needs.
public struct StreamPromptError: Error, CustomStringConvertible, Sendable {
    public var token: String
    public var description: String {
        "the model's tokenizer has no '\(token)' token: it is not a SmolVLM2 tokenizer (live sessions need one)"
    }
}
