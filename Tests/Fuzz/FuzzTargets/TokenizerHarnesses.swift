// Fuzz harnesses: tokenizers. `tokenizer-json` loads an arbitrary tokenizer.json and, when it loads, encodes and
// decodes with it. `tokenizer-encode` encodes arbitrary text and decodes arbitrary ids (in one go and streamed,
// with and without special tokens) with the real SmolVLM2 tokenizer or one of the tiny ones with unusual options;
// the first byte picks the tokenizer, the rest is the text, and a second part holds little-endian Int32 ids.

import Foundation
import Tokenization

enum TokenizerJSONHarness {
    static func run(_ input: [UInt8]) {
        let url = Scratch.write(input, to: "tokenizer.json", in: Scratch.emptyFolder("tokenizer-json"))
        guard let tokenizer = try? Tokenizer(contentsOf: url) else { return }
        TokenizerEncodeHarness.exercise(
            tokenizer, text: "Hello, world! 123 4567 <|im_start|>ab word wordy é! \u{FEFF}x\n\n  \t end",
            ids: Array(0..<min(tokenizer.vocabularySize, 512)) + [-1, tokenizer.vocabularySize, Int.max, Int.min])
    }
}

enum TokenizerEncodeHarness {
    /// The real tokenizer and the tiny ones, loaded once (nil where a fixture is missing).
    private static let tokenizers: [Tokenizer?] = [
        "tokenizer/smolvlm2/tokenizer.json", "tokenizer/tiny/flags.json", "tokenizer/tiny/unknown_fused.json",
        "tokenizer/tiny/unknown.json",
    ].map { try? Tokenizer(contentsOf: Repository.fixture($0)) }

    /// Loads the tokenizers.
    static func prepare() { _ = tokenizers.count }

    static func run(_ input: [UInt8]) {
        let parts = FuzzInput.parts(input, count: 2)
        guard let selector = parts[0].first,
            let tokenizer = tokenizers[Int(selector) % tokenizers.count]
        else { return }
        var ids: [Int] = []
        var numbers = FuzzInput.Numbers(parts[1])
        while !numbers.isEmpty, ids.count < 4096 {
            let low = UInt32(numbers.byte()) | UInt32(numbers.byte()) << 8
            let high = UInt32(numbers.byte()) | UInt32(numbers.byte()) << 8
            ids.append(Int(Int32(bitPattern: low | high << 16)))
        }
        exercise(tokenizer, text: FuzzInput.text(Array(parts[0].dropFirst())), ids: ids)
    }

    /// Encodes `text` (and decodes the result), decodes `ids` in one go and streamed, and looks the ids up.
    static func exercise(_ tokenizer: Tokenizer, text: String, ids: [Int]) {
        let encoded = tokenizer.encode(text)
        _ = tokenizer.decode(encoded)
        for skip in [false, true] {
            let whole = tokenizer.decode(ids, skipSpecialTokens: skip)
            var streaming = tokenizer.makeStreamingDetokenizer(skipSpecialTokens: skip)
            var pieces = ""
            for id in ids { pieces += streaming.append(id) }
            pieces += streaming.finish()
            // The streamed text is the batch decode cut into whole characters.
            precondition(pieces == whole, "streamed decode differs from the batch decode")
        }
        for id in ids.prefix(64) {
            _ = tokenizer.token(of: id)
            _ = tokenizer.isSpecial(id)
        }
        _ = tokenizer.id(of: text)
    }
}
