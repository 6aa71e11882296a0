// The real SmolVLM2 tokenizer's published ids, the vocabulary API, the GGUF path, and rejected configurations.

import Foundation
import Testing
import VigilCore

@testable import Tokenization

@Suite struct TokenizerTests {
    @Test func encodesTheIdsPublishedForTheRealModel() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        #expect(tokenizer.encode("<|im_start|>User:") == [1, 11126, 42])
        #expect(tokenizer.encode(" this image?") == [451, 2443, 47])
        #expect(tokenizer.encode("<end_of_utterance>\nAssistant:") == [49279, 198, 9519, 9531, 42])
        #expect(tokenizer.decode([330, 26591, 308, 1851]) == " A multicolored")
        #expect(tokenizer.encode("User") == [11126])
        #expect(tokenizer.encode("Assistant:") == [9519, 9531, 42])
        #expect(tokenizer.encode("\n") == [198])
        #expect(tokenizer.encode("\n\n") == [1116])
        #expect(tokenizer.encode(" A") == [330])
        #expect(tokenizer.encode("") == [])
    }

    @Test func encodesTheThreeFrameVideoPromptOfTheBrief() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        let image =
            "<fake_token_around_image><global-img>" + String(repeating: "<image>", count: 64)
            + "<fake_token_around_image>"
        var prompt =
            "<|im_start|>User: You are provided the following series of three frames from a 0:00:03 "
            + "[H:MM:SS] video.\n"
        for time in ["00:00", "00:01", "00:02"] { prompt += "\nFrame from \(time):" + image }
        prompt += "\n\nDescribe this video.<end_of_utterance>\nAssistant:"
        let ids = tokenizer.encode(prompt)
        #expect(ids.count == 274)
        #expect(ids.filter { $0 == 49190 }.count == 192)
        #expect(tokenizer.decode(ids) == prompt)
        #expect(!tokenizer.decode(ids, skipSpecialTokens: true).contains("<image>"))
    }

    @Test func mergesTheNewlineAfterTheLastTileRowWithTheNextOne() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        let ids = tokenizer.encode("<row_1_col_1><image>\n\n<fake_token_around_image>")
        #expect(ids == [49153, 49190, 1116, 49189])
    }

    @Test func looksUpTokensAndIds() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        #expect(tokenizer.vocabularySize == 49_280)
        #expect(tokenizer.addedTokens.count == 145)
        #expect(tokenizer.id(of: "<image>") == 49190)
        #expect(tokenizer.id(of: "<|im_start|>") == 1)
        #expect(tokenizer.id(of: "<row_2_col_3>") == 49152 + 6 + 3)
        #expect(tokenizer.id(of: "Ċ") == 198)  // "\n" in byte-level form
        #expect(tokenizer.id(of: "\n") == nil)
        #expect(tokenizer.id(of: "<video>") == nil)
        #expect(tokenizer.token(of: 49279) == "<end_of_utterance>")
        #expect(tokenizer.token(of: 1116) == "ĊĊ")
        #expect(tokenizer.token(of: 49_280) == nil)
        #expect(tokenizer.token(of: -1) == nil)
        #expect(tokenizer.isSpecial(0) && tokenizer.isSpecial(49190) && !tokenizer.isSpecial(198))
        #expect(tokenizer.decode([1, 11126, 42], skipSpecialTokens: true) == "User:")
    }

    @Test func matchesSpecialTokensVerbatimAndLongestFirst() throws {
        let tokenizer = try Fixtures.smolVLM.get()
        #expect(tokenizer.encode("<image><image>") == [49190, 49190])
        #expect(!tokenizer.encode("<image").contains(49190))
        #expect(!tokenizer.encode("<IMAGE>").contains(49190))
        #expect(tokenizer.encode("a<|im_end|>b") == [81, 2, 82])
        // Precomposed and decomposed é are different bytes, hence different tokens (no Unicode normalization).
        #expect(tokenizer.encode("é") != tokenizer.encode("e\u{301}"))
    }

    @Test func isSafeToShareBetweenTasks() async throws {
        let tokenizer = try Fixtures.smolVLM.get()
        let goldens = try Fixtures.goldens.get().encode.prefix(800)
        let mismatches = await withTaskGroup(of: Int.self) { group in
            for part in 0..<4 {
                group.addTask {
                    var count = 0
                    for (index, golden) in goldens.enumerated() where index % 4 == part {
                        if tokenizer.encode(golden.text) != golden.ids { count += 1 }
                    }
                    return count
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }
}

// MARK: - GGUF metadata

@Suite struct GGUFTokenizerTests {
    /// SmolLM2's GGUF vocabulary, recreated from the tokenizer.json model (the GGUF holds the same tokens and merges:
    /// scripts/fixtures/build_tokenizer.py rebuilds the byte-identical tokenizer.json from it).
    static func smolLM2Vocabulary() throws -> Tokenizer.GGUFVocabulary {
        let data = try Data(contentsOf: Fixtures.tokenizerURL)
        let root = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let model = try #require(root["model"] as? [String: Any])
        let vocab = try #require(model["vocab"] as? [String: Int])
        var tokens = [String](repeating: "", count: vocab.count)
        for (token, id) in vocab { tokens[id] = token }
        let merges = try #require(model["merges"] as? [[String]]).map { $0.joined(separator: " ") }
        let types = tokens.indices.map { $0 < 17 ? 3 : 1 }
        return Tokenizer.GGUFVocabulary(
            model: "gpt2", preTokenizer: "smollm", tokens: tokens, merges: merges, tokenTypes: types)
    }

    @Test func buildsTheSameTokenizerAsTheJSONFile() throws {
        let fromJSON = try Fixtures.smolVLM.get()
        let fromGGUF = try Tokenizer(gguf: Self.smolLM2Vocabulary(), extraSpecialTokens: Tokenizer.smolVLMExtraTokens)
        #expect(fromGGUF.vocabularySize == fromJSON.vocabularySize)
        #expect(fromGGUF.addedTokens == fromJSON.addedTokens)
        let goldens = try Fixtures.goldens.get()
        let differing = goldens.encode.filter { fromGGUF.encode($0.text) != $0.ids }
        #expect(differing.isEmpty, "\(differing.prefix(5).map { escaped($0.text) })")
        for golden in goldens.decode {
            #expect(sameScalars(fromGGUF.decode(golden.ids, skipSpecialTokens: true), golden.decodedSkippingSpecial))
        }
    }

    @Test func buildsSmolLM2WithoutTheVisionTokens() throws {
        let tokenizer = try Tokenizer(gguf: Self.smolLM2Vocabulary())
        #expect(tokenizer.vocabularySize == 49_152)
        #expect(tokenizer.encode("<|im_start|>User:") == [1, 11126, 42])
        #expect(tokenizer.id(of: "<image>") == nil)
    }

    @Test func rejectsOtherModelsAndPreTokenizers() throws {
        var vocabulary = try Self.smolLM2Vocabulary()
        vocabulary.model = "llama"
        expectError(.unsupportedConfiguration, mentioning: "tokenizer.ggml.model") { try Tokenizer(gguf: vocabulary) }
        vocabulary.model = "gpt2"
        vocabulary.preTokenizer = "llama-bpe"
        expectError(.unsupportedConfiguration, mentioning: "tokenizer.ggml.pre") { try Tokenizer(gguf: vocabulary) }
        vocabulary.preTokenizer = "smollm"
        vocabulary.tokenTypes = [1, 3]
        expectError(.malformedFile, mentioning: "token_type") { try Tokenizer(gguf: vocabulary) }
        vocabulary.tokenTypes[1] = 6
        vocabulary.tokenTypes += Array(repeating: 1, count: vocabulary.tokens.count - 2)
        expectError(.unsupportedConfiguration, mentioning: "byte token") { try Tokenizer(gguf: vocabulary) }
    }

    @Test func rejectsBrokenMergesAndClashingIds() {
        let bytes = (0..<256).map { ByteLevel.encodedString(of: [UInt8($0)]) }
        expectError(.malformedFile, mentioning: "merge #0") {
            try Tokenizer(vocabulary: bytes, merges: ["abc"], addedTokens: [])
        }
        expectError(.inconsistentVocabulary, mentioning: "\"ab\"") {
            try Tokenizer(vocabulary: bytes, merges: ["a b"], addedTokens: [])
        }
        expectError(.inconsistentVocabulary, mentioning: "id 65") {
            try Tokenizer(vocabulary: bytes, merges: [], addedTokens: [AddedToken(id: 65, content: "<x>")])
        }
        expectError(.inconsistentVocabulary, mentioning: "keep its id") {
            try Tokenizer(vocabulary: bytes, merges: [], addedTokens: [AddedToken(id: 300, content: "a")])
        }
        expectError(.inconsistentVocabulary, mentioning: "outside") {
            try Tokenizer(vocabulary: bytes, merges: [], addedTokens: [AddedToken(id: -1, content: "<x>")])
        }
    }
}

// MARK: - tokenizer.json validation

@Suite struct TokenizerFileTests {
    /// A minimal valid tokenizer.json: the 256 byte tokens, one merge ("a b"), one added token.
    static func minimalJSON() -> [String: Any] {
        var vocab: [String: Int] = [:]
        for byte in 0..<256 { vocab[ByteLevel.encodedString(of: [UInt8(byte)])] = byte }
        vocab["ab"] = 256
        return [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "normalizer": NSNull(),
            "added_tokens": [
                [
                    "id": 257, "content": "<s>", "special": true, "normalized": false, "lstrip": false,
                    "rstrip": false, "single_word": false,
                ] as [String: Any]
            ],
            "pre_tokenizer": [
                "type": "Sequence",
                "pretokenizers": [
                    ["type": "Digits", "individual_digits": true] as [String: Any],
                    ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
                ],
            ] as [String: Any],
            "post_processor": NSNull(),
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab, "merges": [["a", "b"]],
            ] as [String: Any],
        ]
    }

    /// Writes `json` to a fresh temporary file and loads it.
    static func load(_ json: [String: Any]) throws -> Tokenizer {
        try load(data: JSONSerialization.data(withJSONObject: json))
    }

    static func load(data: Data) throws -> Tokenizer {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-tokenizer-\(UUID()).json")
        try data.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return try Tokenizer(contentsOf: url)
    }

    @Test func loadsTheMinimalFile() throws {
        let tokenizer = try Self.load(Self.minimalJSON())
        #expect(tokenizer.encode("ab<s>12") == [256, 257, 49, 50])
        #expect(tokenizer.vocabularySize == 258)
        #expect(tokenizer.decode([256, 257, 49], skipSpecialTokens: true) == "ab1")
    }

    @Test func acceptsBothMergeForms() throws {
        var json = Self.minimalJSON()
        var model = json["model"] as! [String: Any]
        model["merges"] = ["#version: 0.2", "a b"]
        json["model"] = model
        #expect(try Self.load(json).encode("ab") == [256])
    }

    @Test func keepsAByteOrderMarkInsideTokens() throws {
        var json = Self.minimalJSON()
        json["added_tokens"] = [["id": 257, "content": "\u{FEFF}<s>", "special": true, "normalized": false]]
        let tokenizer = try Self.load(json)
        #expect(tokenizer.id(of: "\u{FEFF}<s>") == 257)
        #expect(tokenizer.encode("x\u{FEFF}<s>") == [120, 257])  // ids are byte values here
    }

    /// Each change to the minimal file and the key its error must name.
    static let unsupportedChanges: [(String, @Sendable (inout [String: Any]) -> Void)] = [
        ("normalizer", { $0["normalizer"] = ["type": "NFC"] }),
        ("truncation", { $0["truncation"] = ["max_length": 8] }),
        ("padding", { $0["padding"] = ["strategy": "BatchLongest"] }),
        ("post_processor.type", { $0["post_processor"] = ["type": "TemplateProcessing"] }),
        ("decoder", { $0["decoder"] = NSNull() }),
        ("decoder.type", { $0["decoder"] = ["type": "WordPiece"] }),
        ("pre_tokenizer", { $0["pre_tokenizer"] = NSNull() }),
        ("pre_tokenizer.type", { $0["pre_tokenizer"] = ["type": "Whitespace"] }),
        (
            "pre_tokenizer.add_prefix_space",
            { $0["pre_tokenizer"] = ["type": "ByteLevel", "add_prefix_space": true] }
        ),
        ("model.type", { $0["model"] = ["type": "WordPiece", "vocab": [:] as [String: Int]] }),
        ("model.dropout", { Self.setModel(&$0, "dropout", 0.1) }),
        ("model.byte_fallback", { Self.setModel(&$0, "byte_fallback", true) }),
        ("model.continuing_subword_prefix", { Self.setModel(&$0, "continuing_subword_prefix", "##") }),
        ("version", { $0["version"] = "2.0" }),
    ]

    static func setModel(_ json: inout [String: Any], _ key: String, _ value: Any) {
        var model = json["model"] as! [String: Any]
        model[key] = value
        json["model"] = model
    }

    @Test func rejectsUnsupportedConfigurationsNamingTheKey() {
        for (key, change) in Self.unsupportedChanges {
            var json = Self.minimalJSON()
            change(&json)
            expectError(.unsupportedConfiguration, mentioning: "`\(key)`") { try Self.load(json) }
        }
    }

    @Test func rejectsMalformedFiles() {
        expectError(.malformedFile, mentioning: "not valid JSON") { try Self.load(data: Data("{\"model\": ".utf8)) }
        var json = Self.minimalJSON()
        json["model"] = nil
        expectError(.malformedFile, mentioning: "`model`") { try Self.load(json) }
        json = Self.minimalJSON()
        Self.setModel(&json, "merges", ["a b c"])
        expectError(.malformedFile, mentioning: "`model.merges[0]`") { try Self.load(json) }
        json = Self.minimalJSON()
        Self.setModel(&json, "vocab", ["a": "zero"])
        expectError(.malformedFile, mentioning: "model.vocab") { try Self.load(json) }
    }

    @Test func rejectsAddedTokenIdsThatTokenizersWouldChange() {
        var json = Self.minimalJSON()
        json["added_tokens"] = [["id": 300, "content": "<s>", "special": true, "normalized": false]]
        expectError(.inconsistentVocabulary, mentioning: "would load it as id 257") { try Self.load(json) }
    }

    @Test func rejectsMergesOfUnknownTokens() {
        var json = Self.minimalJSON()
        Self.setModel(&json, "merges", [["a", "c"]])
        expectError(.inconsistentVocabulary, mentioning: "\"ac\"") { try Self.load(json) }
    }

    @Test func reportsAMissingFileWithItsPath() {
        let url = URL(fileURLWithPath: "/nonexistent/vigil/tokenizer.json")
        expectError(.unreadableFile, mentioning: "/nonexistent/vigil/tokenizer.json") { try Tokenizer(contentsOf: url) }
    }
}

/// Expects `body` to throw a `TokenizerError` with `code` whose message contains `fragment`.
func expectError(
    _ code: TokenizerError.Code, mentioning fragment: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Any
) {
    do {
        _ = try body()
        Issue.record("expected a \(code) error mentioning \(fragment)", sourceLocation: sourceLocation)
    } catch let error as TokenizerError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}
