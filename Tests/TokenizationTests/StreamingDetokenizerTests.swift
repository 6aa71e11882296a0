// The streaming detokenizer: whole characters only, as early as possible, and the same text as the batch decode.

import Foundation
import Testing
import TestSupport

@testable import Tokenization

@Suite struct StreamingDetokenizerTests {
    /// Feeds `ids` one at a time and checks, after every id, that what was emitted so far plus one U+FFFD for a
    /// held-back incomplete character is exactly the batch decode of the ids so far; returns the full stream text.
    private func stream(_ tokenizer: Tokenizer, _ ids: [Int], skipSpecialTokens: Bool = false) -> (String, [String]) {
        var detokenizer = tokenizer.makeStreamingDetokenizer(skipSpecialTokens: skipSpecialTokens)
        var emitted = ""
        var problems: [String] = []
        for (index, id) in ids.enumerated() {
            emitted += detokenizer.append(id)
            let batch = tokenizer.decode(Array(ids[...index]), skipSpecialTokens: skipSpecialTokens)
            let expected = detokenizer.hasPendingBytes ? emitted + "\u{FFFD}" : emitted
            if !sameScalars(expected, batch) {
                problems.append("after \(ids[...index]): emitted \"\(escaped(emitted))\", batch \"\(escaped(batch))\"")
            }
        }
        emitted += detokenizer.finish()
        return (emitted, problems)
    }

    @Test func holdsAnEmojiSplitAcrossByteTokensUntilItIsComplete() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        let ids = tokenizer.encode("😀")
        #expect(ids.count > 1)  // the emoji's four bytes span several tokens
        var detokenizer = tokenizer.makeStreamingDetokenizer()
        var chunks = ids.map { detokenizer.append($0) }
        chunks.append(detokenizer.finish())
        #expect(chunks.dropLast(2).allSatisfy { $0.isEmpty })
        #expect(chunks[chunks.count - 2] == "😀")
        #expect(chunks.last == "")
    }

    @Test func streamsMultiByteTextExactlyAsTheBatchDecode() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        let texts = [
            "Привет, мир! 你好，世界！ こんにちは 안녕하세요 🇯🇵👨‍👩‍👧‍👦 naïve café ١٢٣ ½ 𝟗",
            "สวัสดีครับ नमस्ते दुनिया שלום עולם مرحبا بالعالم",
            "<|im_start|>User: 描述这个视频。<end_of_utterance>\nAssistant: 一个人在走路。",
        ]
        for text in texts {
            let ids = tokenizer.encode(text)
            let (streamed, problems) = stream(tokenizer, ids)
            #expect(problems.isEmpty, "\(problems.prefix(3))")
            #expect(sameScalars(streamed, text))
            #expect(!streamed.unicodeScalars.contains("\u{FFFD}"))
        }
    }

    @Test func streamsEveryShortGoldenLikeTheBatchDecode() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        let goldens = try Fixtures.goldens.get()
        var failures: [String] = []
        var checked = 0
        for golden in goldens.encode where golden.ids.count <= 60 {
            checked += 1
            let (streamed, problems) = stream(tokenizer, golden.ids)
            if !problems.isEmpty || !sameScalars(streamed, golden.decoded) {
                failures.append(
                    "[\(golden.category)] \(escaped(golden.text)): \(problems.first ?? "final text differs")")
            }
        }
        #expect(checked > 5_000)
        #expect(failures.isEmpty, "\(failures.count) differ:\n\(failures.prefix(10).joined(separator: "\n"))")
    }

    @Test func streamsInvalidUTF8AndSkipsSpecialTokensLikeTheBatchDecode() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        let goldens = try Fixtures.goldens.get()
        var failures: [String] = []
        for golden in goldens.decode {
            let (streamed, problems) = stream(tokenizer, golden.ids)
            let (skipped, skipProblems) = stream(tokenizer, golden.ids, skipSpecialTokens: true)
            if !problems.isEmpty || !skipProblems.isEmpty || !sameScalars(streamed, golden.decoded)
                || !sameScalars(skipped, golden.decodedSkippingSpecial)
            {
                failures.append("\(golden.ids): \((problems + skipProblems).first ?? "final text differs")")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) differ:\n\(failures.prefix(10).joined(separator: "\n"))")
    }

    @Test func replacesBytesThatCanNeverBeCompletedAtOnce() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        // Byte tokens: 0xF0 (a 4-byte lead) then "A" breaks the sequence; 0x80 is a lone continuation byte.
        let lead = try #require(tokenizer.id(of: ByteLevel.encodedString(of: [0xF0])))
        let continuation = try #require(tokenizer.id(of: ByteLevel.encodedString(of: [0x80])))
        let letter = try #require(tokenizer.id(of: "A"))
        var detokenizer = tokenizer.makeStreamingDetokenizer()
        #expect(detokenizer.append(lead) == "")
        #expect(detokenizer.hasPendingBytes)
        #expect(detokenizer.append(letter) == "\u{FFFD}A")
        #expect(detokenizer.append(continuation) == "\u{FFFD}")
        #expect(detokenizer.append(lead) == "")
        #expect(detokenizer.finish() == "\u{FFFD}")
        #expect(!detokenizer.hasPendingBytes)
        #expect(tokenizer.decode([lead, letter, continuation, lead]) == "\u{FFFD}A\u{FFFD}\u{FFFD}")
    }

    @Test func ignoresUnknownIds() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        var detokenizer = tokenizer.makeStreamingDetokenizer()
        #expect(detokenizer.append(-1) == "")
        #expect(detokenizer.append(1 << 40) == "")
        #expect(detokenizer.append(tokenizer.vocabularySize) == "")
        #expect(tokenizer.decode([-5, 81, 99_999_999]) == "a")
    }
}

@Suite struct UTF8RepairerTests {
    private func repaired(_ bytes: [UInt8]) -> [UInt8] {
        var repairer = UTF8Repairer()
        var output: [UInt8] = []
        repairer.feed(bytes, into: &output)
        repairer.finish(into: &output)
        return output
    }

    @Test func replacesEachMaximalIllFormedSubpartOnce() {
        let fffd: [UInt8] = [0xEF, 0xBF, 0xBD]
        // The examples of Unicode 15 section 3.9, table 3-8 style: E1 80 is one subpart, then 41.
        #expect(repaired([0xE1, 0x80, 0x41]) == fffd + [0x41])
        // F0 80 80: 80 cannot follow F0, so three replacements.
        #expect(repaired([0xF0, 0x80, 0x80]) == fffd + fffd + fffd)
        // ED A0 80 (a surrogate) is ill-formed byte by byte.
        #expect(repaired([0xED, 0xA0, 0x80]) == fffd + fffd + fffd)
        // C0 and F5..FF never start a sequence.
        #expect(repaired([0xC0, 0xAF, 0xF5, 0xFF]) == fffd + fffd + fffd + fffd)
        // A well-formed prefix cut short at the end is one replacement.
        #expect(repaired([0x61, 0xF0, 0x9F, 0x98]) == [0x61] + fffd)
        #expect(repaired(Array("héllo 😀".utf8)) == Array("héllo 😀".utf8))
    }

    @Test func agreesWithTheStandardLibraryDecoder() {
        // Swift's String(decoding:) also substitutes maximal subparts; compare on seeded random byte strings.
        var generator = TestRandom(seed: 7)
        for _ in 0..<2_000 {
            let count = Int.random(in: 0...12, using: &generator)
            let bytes = (0..<count).map { _ in
                Bool.random(using: &generator)
                    ? UInt8.random(in: 0x80...0xFF, using: &generator) : UInt8.random(in: 0...0xFF, using: &generator)
            }
            #expect(repaired(bytes) == Array(String(decoding: bytes, as: UTF8.self).utf8), "\(bytes)")
        }
    }
}

