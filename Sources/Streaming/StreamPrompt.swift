// The token layout of a live session, in SmolVLM2's chat format (transformers' SmolVLMProcessor renders the same
// pieces for a recorded video; see SmolVLM/Processing/PromptBuilder.swift):
//
//   SINK      <|im_start|>[System: S<end_of_utterance>\n]User: INSTRUCTION
//             You are provided the following series of frames from a live video.
//   CHUNK(t)  [\nUser:]\nFrame from MM:SS:<fake_token_around_image><global-img><image>×k<fake_token_around_image>
//   QA(t)     \n\n[MEMORY]QUESTION<end_of_utterance>\nAssistant: ANSWER<end_of_utterance>
//             (MEMORY: the captions and summaries chosen for the question, MemoryContext.swift, then the feature
//             memory's blocks, each "Frames mm:ss–mm:ss (n):" or "Frame at mm:ss:" + an image block)
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
        let t = model.tokenizer
        let candidate = ChunkPieces(
            prefix: t.encode("\nFrame from "), reopenPrefix: t.encode("\nUser:\nFrame from "),
            digits: (0...9).map { t.encode(String($0)) }, colon: t.encode(":"),
            open: [fakeTokenAroundImageID, globalImageID], close: [fakeTokenAroundImageID])
        pieces = candidate
        // Keep the composed form only if it is exactly what the tokenizer produces.
        var composed: [Int] = []
        for time in [0.0, 7, 59.9, 61, 600, 3599, 3600, 5999, 6000, 59999, 600_000] {
            for reopens in [false, true] {
                writeChunkIDs(time: time, imageTokens: 3, reopensTurn: reopens, into: &composed)
                if composed != chunkIDs(time: time, imageTokens: 3, reopensTurn: reopens) {
                    pieces = nil
                    return
                }
            }
        }
    }

    /// Whether chunk ids are composed from pre-tokenised pieces (no tokenisation per chunk).
    public var composesChunkIDs: Bool { pieces != nil }

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
    public static func questionText(_ question: String, context: String = "", visual: [(label: String, tokens: Int)] = [])
        -> String
    {
        var out = "\n\n" + context
        for block in visual {
            out += block.label + PromptBuilder.imageBlock(rows: 0, cols: 0, imageSeqLen: block.tokens) + "\n"
        }
        return out + question + PromptBuilder.endOfUtterance + "\nAssistant:"
    }

    /// Sink ids.
    public func sinkIDs(instruction: String, system: String?) -> [Int] {
        tokenizer.encode(Self.sinkText(instruction: instruction, system: system))
    }

    /// A chunk's ids; its `<image>` ids are replaced by the frame's kept tokens when embedded.
    public func chunkIDs(time: Double, imageTokens: Int, reopensTurn: Bool) -> [Int] {
        tokenizer.encode(Self.chunkText(time: time, imageTokens: imageTokens, reopensTurn: reopensTurn))
    }

    /// Writes a chunk's ids into `ids` (cleared, capacity kept): composed from pre-tokenised pieces when this
    /// tokenizer splits digits one by one (SmolVLM2's does; checked against `chunkIDs` at construction), so the
    /// per-second loop allocates nothing; otherwise tokenised.
    public func writeChunkIDs(time: Double, imageTokens: Int, reopensTurn: Bool, into ids: inout [Int]) {
        ids.removeAll(keepingCapacity: true)
        guard let pieces = chunkPieces else {
            ids += chunkIDs(time: time, imageTokens: imageTokens, reopensTurn: reopensTurn)
            return
        }
        ids += reopensTurn ? pieces.reopenPrefix : pieces.prefix
        let seconds = max(0, time.isFinite ? time : 0)
        let minutes = Int(seconds / 60)
        let rest = Int(seconds.truncatingRemainder(dividingBy: 60))
        Self.appendDigits(minutes < 10 ? 0 : minutes / 10, pieces.digits, into: &ids, leading: true)
        ids += pieces.digits[minutes % 10]
        ids += pieces.colon
        ids += pieces.digits[rest / 10]
        ids += pieces.digits[rest % 10]
        ids += pieces.colon
        ids += pieces.open
        for _ in 0..<imageTokens { ids.append(imageTokenID) }
        ids += pieces.close
    }

    /// Appends the decimal digits of `n` (none for a leading 0 when `leading`; "0" stands for a single zero).
    private static func appendDigits(_ n: Int, _ digits: [[Int]], into ids: inout [Int], leading: Bool) {
        if n == 0 {
            ids += digits[0]
            return
        }
        var divisor = 1
        while divisor * 10 <= n { divisor *= 10 }
        var rest = n
        while divisor > 0 {
            ids += digits[rest / divisor]
            rest %= divisor
            divisor /= 10
        }
    }

    /// Pre-tokenised pieces of a chunk's text, or nil when composing them would not equal tokenising.
    private var chunkPieces: ChunkPieces? { pieces }
    private var pieces: ChunkPieces?

    private struct ChunkPieces: Sendable {
        var prefix: [Int]
        var reopenPrefix: [Int]
        var digits: [[Int]]
        var colon: [Int]
        var open: [Int]
        var close: [Int]
    }

    /// A question's ids (up to "Assistant:").
    public func questionIDs(_ question: String, context: String = "", visual: [(label: String, tokens: Int)] = [])
        -> [Int]
    {
        tokenizer.encode(Self.questionText(question, context: context, visual: visual))
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
