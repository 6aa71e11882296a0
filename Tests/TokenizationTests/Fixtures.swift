// Shared fixtures of the Tokenization tests: the real SmolVLM2 tokenizer and its goldens, loaded once.
//
// Goldens come from scripts/fixtures/make_tokenizer_goldens.py (Hugging Face tokenizers 0.23.3); tests never run
// Python.

import Foundation
import Testing

@testable import Tokenization

enum Fixtures {
    /// Tests/Fixtures/tokenizer/smolvlm2.
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tokenizer/smolvlm2")

    /// The real SmolVLM2 tokenizer.json.
    static let tokenizerURL = directory.appendingPathComponent("tokenizer.json")

    /// The real SmolVLM2 tokenizer, or the error loading it.
    static let smolVLM: Result<Tokenizer, any Error> = Result { try Tokenizer(contentsOf: tokenizerURL) }

    /// The goldens, or the error loading them.
    static let goldens: Result<Goldens, any Error> = Result {
        try Goldens(contentsOf: directory.appendingPathComponent("goldens.json"))
    }
}

/// goldens.json: encode cases (text -> ids, decoded text) and decode cases (ids -> text).
struct Goldens {
    struct EncodeCase {
        var category: String
        var text: String
        var ids: [Int]
        /// decode(ids); the text itself unless the file says otherwise.
        var decoded: String
        /// decode(ids, skipSpecialTokens: true); `decoded` unless the file says otherwise.
        var decodedSkippingSpecial: String
    }

    struct DecodeCase {
        var ids: [Int]
        var decoded: String
        var decodedSkippingSpecial: String
    }

    var encode: [EncodeCase] = []
    var decode: [DecodeCase] = []

    init(contentsOf url: URL) throws {
        let root = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        for row in try #require(root["encode"] as? [[Any]]) {
            let text = try #require(row[1] as? String)
            let decoded = row.count > 3 ? try #require(row[3] as? String) : text
            encode.append(
                EncodeCase(
                    category: try #require(row[0] as? String), text: text, ids: try #require(row[2] as? [Int]),
                    decoded: decoded, decodedSkippingSpecial: row.count > 4 ? try #require(row[4] as? String) : decoded)
            )
        }
        for row in try #require(root["decode"] as? [[Any]]) {
            decode.append(
                DecodeCase(
                    ids: try #require(row[0] as? [Int]), decoded: try #require(row[1] as? String),
                    decodedSkippingSpecial: try #require(row[2] as? String)))
        }
    }
}

/// Whether two strings have the same code points (String == would also equate canonically equivalent text).
func sameScalars(_ a: String, _ b: String) -> Bool { a.unicodeScalars.elementsEqual(b.unicodeScalars) }

/// A readable, escaped rendering of a string for failure messages.
func escaped(_ text: String) -> String {
    text.unicodeScalars.map {
        $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? String($0) : "\\u{\(String($0.value, radix: 16))}"
    }.joined()
}
