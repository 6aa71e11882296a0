// Parity on small tokenizers that use what the real file does not: added-token flags (lstrip, rstrip,
// single_word, normalized), non-special added tokens, contiguous Digits, ByteLevel without regex, legacy "a b"
// merges, unk_token with and without fuse_unk, ignore_merges (Tests/Fixtures/tokenizer/tiny, made by
// scripts/fixtures/make_tokenizer_goldens.py).

import Foundation
import Testing

@testable import Tokenization

@Suite struct TinyTokenizerGoldenTests {
    static let directory = Fixtures.directory.deletingLastPathComponent().appendingPathComponent("tiny")

    struct Row: Sendable {
        var text: String
        var ids: [Int]
        var decoded: String
        var decodedSkippingSpecial: String
    }

    /// Tokenizer name -> golden rows.
    static let goldens: Result<[String: [Row]], any Error> = Result {
        let data = try Data(contentsOf: directory.appendingPathComponent("goldens.json"))
        let root = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try #require(root["cases"] as? [String: [[Any]]])
        return try cases.mapValues { rows in
            try rows.map { row in
                Row(
                    text: try #require(row[0] as? String), ids: try #require(row[1] as? [Int]),
                    decoded: try #require(row[2] as? String), decodedSkippingSpecial: try #require(row[3] as? String))
            }
        }
    }

    @Test(arguments: ["flags", "unknown_fused", "unknown"])
    func matchesTokenizers(_ name: String) throws {
        let tokenizer = try Tokenizer(contentsOf: Self.directory.appendingPathComponent("\(name).json"))
        let rows = try #require(try Self.goldens.get()[name])
        #expect(rows.count > 1_000)
        var failures: [String] = []
        for row in rows {
            let (text, ids, decoded, skipped) = (row.text, row.ids, row.decoded, row.decodedSkippingSpecial)
            let got = tokenizer.encode(text)
            if got != ids {
                failures.append("\"\(escaped(text))\": got \(got), expected \(ids)")
                continue
            }
            if !sameScalars(tokenizer.decode(ids), decoded)
                || !sameScalars(tokenizer.decode(ids, skipSpecialTokens: true), skipped)
            {
                failures.append("\"\(escaped(text))\": decode differs")
                continue
            }
            var detokenizer = tokenizer.makeStreamingDetokenizer(skipSpecialTokens: true)
            let streamed = ids.map { detokenizer.append($0) }.joined() + detokenizer.finish()
            if !sameScalars(streamed, skipped) { failures.append("\"\(escaped(text))\": stream differs") }
        }
        #expect(failures.isEmpty, "\(failures.count) differ:\n\(failures.prefix(15).joined(separator: "\n"))")
    }
}
