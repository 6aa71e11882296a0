// Parity with Hugging Face tokenizers 0.23.3 on >= 10,000 golden strings (goldens.json) with the real tokenizer.

import Foundation
import Testing
import TestSupport

@testable import Tokenization

@Suite(.holdingSerialLock) struct TokenizerGoldenTests {
    @Test func goldensCoverEnoughStrings() throws {
        let goldens = try Fixtures.goldens.get()
        #expect(goldens.encode.count >= 10_000)
        #expect(Set(goldens.encode.map(\.category)).count >= 20)
    }

    @Test func encodesEveryGoldenStringToTheSameIds() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        let goldens = try Fixtures.goldens.get()
        var failures: [String] = []
        for golden in goldens.encode {
            let ids = tokenizer.encode(golden.text)
            if ids != golden.ids {
                failures.append("[\(golden.category)] \"\(escaped(golden.text))\": got \(ids), expected \(golden.ids)")
            }
        }
        #expect(
            failures.isEmpty,
            "\(failures.count) of \(goldens.encode.count) differ:\n\(failures.prefix(15).joined(separator: "\n"))")
    }

    @Test func decodesEveryGoldenEncoding() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        let goldens = try Fixtures.goldens.get()
        var failures: [String] = []
        for golden in goldens.encode {
            let decoded = tokenizer.decode(golden.ids)
            let skipped = tokenizer.decode(golden.ids, skipSpecialTokens: true)
            if !sameScalars(decoded, golden.decoded) || !sameScalars(skipped, golden.decodedSkippingSpecial) {
                failures.append(
                    "[\(golden.category)] \(golden.ids): got \"\(escaped(decoded))\" / \"\(escaped(skipped))\"")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) differ:\n\(failures.prefix(15).joined(separator: "\n"))")
    }

    @Test func roundTripsTextExceptBytesMissingFromTheVocabulary() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        let goldens = try Fixtures.goldens.get()
        // Byte-level BPE keeps every byte that has a token; SmolLM2's vocabulary lacks a few control bytes
        // (e.g. U+0004), which tokenizers drops silently, and so must we.
        var lossless = 0
        var failures: [String] = []
        for golden in goldens.encode {
            let decoded = tokenizer.decode(tokenizer.encode(golden.text))
            if sameScalars(golden.decoded, golden.text) {
                lossless += 1
                if !sameScalars(decoded, golden.text) { failures.append(escaped(golden.text)) }
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        #expect(lossless > goldens.encode.count * 9 / 10)
    }

    @Test func decodesRandomIdSequencesLikeTheBatchDecoder() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        let goldens = try Fixtures.goldens.get()
        #expect(goldens.decode.count >= 500)
        var failures: [String] = []
        for golden in goldens.decode {
            let decoded = tokenizer.decode(golden.ids)
            let skipped = tokenizer.decode(golden.ids, skipSpecialTokens: true)
            if !sameScalars(decoded, golden.decoded) {
                failures.append("\(golden.ids): got \"\(escaped(decoded))\", expected \"\(escaped(golden.decoded))\"")
            }
            if !sameScalars(skipped, golden.decodedSkippingSpecial) {
                failures.append("\(golden.ids) skipping: got \"\(escaped(skipped))\"")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) differ:\n\(failures.prefix(15).joined(separator: "\n"))")
    }

    @Test func goldensIncludeInvalidUTF8AndSpecialTokens() throws {
        let goldens = try Fixtures.goldens.get()
        #expect(goldens.decode.contains { $0.decoded.unicodeScalars.contains("\u{FFFD}") })
        #expect(goldens.decode.contains { !sameScalars($0.decoded, $0.decodedSkippingSpecial) })
    }
}
