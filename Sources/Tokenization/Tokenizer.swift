// A byte-level BPE tokenizer that reproduces Hugging Face `tokenizers` 0.23.3 on GPT-2-style tokenizer.json files,
// SmolLM2's / SmolVLM2's in particular (see docs: ../shared/briefs/smolvlm.md sections 6-7).
//
// Encoding, as tokenizers' `TokenizerImpl::encode` does it with no normalizer and no post-processor:
//   1. added tokens are cut out of the text (AddedTokenMatcher.swift), verbatim, leftmost-longest;
//   2. the text between them is pre-tokenized: Digits, then the GPT-2 regex (PreTokenizer.swift);
//   3. each piece becomes bytes -> byte tokens -> BPE merges by rank (BytePairEncoder.swift).
// Decoding is the ByteLevel decoder: token strings -> bytes (TokenBytes.swift) -> lossy UTF-8 (UTF8Repairer.swift),
// in one go or streamed (StreamingDetokenizer.swift).
//
// Loaded from tokenizer.json (TokenizerDefinition.swift) or from GGUF metadata (here and Tokenizer+GGUF.swift).

import Foundation

/// Encodes text to token ids and decodes ids to text, exactly as Hugging Face `tokenizers` does for byte-level BPE.
///
/// Immutable after loading and safe to share between threads; encoding keeps a small internal word cache.
public final class Tokenizer: Sendable {
    private let encoder: BytePairEncoder
    private let preTokenizer: PreTokenizer
    /// Added tokens with `normalized = false`, matched first on the raw text.
    private let rawAddedTokens: AddedTokenMatcher
    /// Added tokens with `normalized = true`, matched second on the text between the first matches.
    private let normalizedAddedTokens: AddedTokenMatcher
    /// Token string (its UTF-8 bytes) -> id; added tokens take precedence over the vocabulary.
    private let ids: [[UInt8]: Int]
    /// Id -> token string; added tokens take precedence over the vocabulary.
    private let tokens: [String?]
    private let tokenBytes: TokenBytes

    /// The added tokens, in id order.
    public let addedTokens: [AddedToken]

    /// The number of ids: the largest id (vocabulary or added token) plus one.
    public var vocabularySize: Int { tokens.count }

    /// Loads a `tokenizer.json` (Hugging Face `tokenizers` format) holding a byte-level BPE model.
    ///
    /// - Throws: `TokenizerError` when the file cannot be read or parsed, or uses a model, normalizer,
    ///   pre-tokenizer, post-processor or decoder this implementation does not support.
    public convenience init(contentsOf url: URL) throws {
        try self.init(definition: TokenizerDefinition.load(contentsOf: url))
    }

    /// Builds a tokenizer from GGUF-style metadata with SmolLM2's pre-tokenizer (`tokenizer.ggml.pre = "smollm"`:
    /// Digits with individual digits, then the byte-level GPT-2 regex) and the ByteLevel decoder.
    ///
    /// - Parameters:
    ///   - vocabulary: The token strings in id order (`tokenizer.ggml.tokens`), in GPT-2 byte-level form.
    ///   - merges: The merges in rank order, each "left right" (`tokenizer.ggml.merges`).
    ///   - addedTokens: Tokens matched verbatim before BPE (e.g. control tokens, `tokenizer.ggml.token_type` 3).
    ///     A token whose content is in `vocabulary` must carry that id; others may use any unused id.
    /// - Throws: `TokenizerError` when a merge is malformed or names an unknown token, or ids clash.
    public convenience init(vocabulary: [String], merges: [String], addedTokens: [AddedToken]) throws {
        let source = "GGUF tokenizer metadata"
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            let parts = splitMerge(merge)
            guard parts.count == 2 else {
                throw TokenizerError(
                    .malformedFile,
                    "\(source): merge #\(rank) (\"\(merge)\") in tokenizer.ggml.merges is not two tokens separated by "
                        + "one space; check that the GGUF file is a GPT-2-style BPE model.")
            }
            pairs.append((parts[0], parts[1]))
        }
        let definition = TokenizerDefinition(
            source: source, vocabulary: vocabulary.enumerated().map { ($1, $0) }, merges: pairs,
            addedTokens: addedTokens, addedTokenIDs: .given, unknownToken: nil, fusesUnknown: false,
            ignoresMerges: false, preTokenizer: .smolLM)
        try self.init(definition: definition)
    }

    init(definition: TokenizerDefinition) throws {
        let source = definition.source
        // Vocabulary: token bytes -> id (byte-exact, unlike String's canonical equivalence) and id -> token.
        var ids: [[UInt8]: Int] = [:]
        ids.reserveCapacity(definition.vocabulary.count + definition.addedTokens.count)
        var largestID = -1
        for (token, id) in definition.vocabulary {
            try Self.checkRange(id, of: token, in: source)
            ids[Array(token.utf8)] = id
            largestID = max(largestID, id)
        }
        let vocabularyIDs = ids
        let addedTokens = try Self.resolveIDs(of: definition, vocabularyIDs: vocabularyIDs)
        for token in addedTokens {
            try Self.checkRange(token.id, of: token.content, in: source)
            largestID = max(largestID, token.id)
        }
        var tokens = [String?](repeating: nil, count: largestID + 1)
        for (token, id) in definition.vocabulary {
            if let existing = tokens[id], !existing.utf8.elementsEqual(token.utf8) {
                throw TokenizerError(
                    .inconsistentVocabulary,
                    "\(source): tokens \"\(existing)\" and \"\(token)\" both have id \(id); each id must name one "
                        + "token. The file is damaged: rebuild it.")
            }
            tokens[id] = token
        }

        // Byte tokens and merges.
        var byteTokens = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            if let id = ids[Array(ByteLevel.encodedString(of: [UInt8(byte)]).utf8)] { byteTokens[byte] = Int32(id) }
        }
        var merges = MergeTable(capacity: definition.merges.count)
        var key: [UInt8] = []  // reused lookup buffer: no allocation per merge
        for (rank, (left, right)) in definition.merges.enumerated() {
            func id(of parts: String...) throws -> Int32 {
                key.removeAll(keepingCapacity: true)
                for part in parts { key.append(contentsOf: part.utf8) }
                guard let id = ids[key] else {
                    throw TokenizerError(
                        .inconsistentVocabulary,
                        "\(source): merge #\(rank) (\"\(left) \(right)\") needs the token \"\(parts.joined())\", which "
                            + "is not in the vocabulary; the vocabulary and merges do not belong together.")
                }
                return Int32(id)
            }
            merges.insert(
                left: try id(of: left), right: try id(of: right), rank: UInt32(rank), merged: try id(of: left, right))
        }
        var unknownID: Int32?
        if let unknown = definition.unknownToken {
            guard let id = ids[Array(unknown.utf8)] else {
                throw TokenizerError(
                    .inconsistentVocabulary,
                    "\(source): the unknown token \"\(unknown)\" (model.unk_token) is not in the vocabulary.")
            }
            unknownID = Int32(id)
        }
        var wholeWords: [[UInt8]: Int32]?
        if definition.ignoresMerges {
            var words: [[UInt8]: Int32] = [:]
            for (token, id) in definition.vocabulary
            where token.unicodeScalars.allSatisfy({
                $0.value < 512 && ByteLevel.byteOfScalar[Int($0.value)] >= 0
            }) {
                words[ByteLevel.decodedBytes(of: token)] = Int32(id)
            }
            wholeWords = words
        }
        encoder = BytePairEncoder(
            byteTokens: byteTokens, merges: merges, unknownID: unknownID, fusesUnknown: definition.fusesUnknown,
            wholeWords: wholeWords)
        preTokenizer = definition.preTokenizer

        // Added tokens override the vocabulary in both directions.
        var added: [Int: AddedToken] = [:]
        for token in addedTokens {
            let content = Array(token.content.utf8)
            if added[token.id] == nil, let existing = tokens[token.id], !existing.utf8.elementsEqual(content) {
                throw TokenizerError(
                    .inconsistentVocabulary,
                    "\(source): id \(token.id) is both the vocabulary token \"\(existing)\" and the added token "
                        + "\"\(token.content)\"; give the added token an unused id.")
            }
            ids[content] = token.id
            tokens[token.id] = token.content
            added[token.id] = token
        }
        // Special ids: every id whose token string is a special token's content (tokenizers checks the string).
        var special = Set<Int>()
        for token in addedTokens where token.isSpecial {
            special.insert(token.id)
            if let id = vocabularyIDs[Array(token.content.utf8)] { special.insert(id) }
        }
        self.addedTokens = added.values.sorted { $0.id < $1.id }
        rawAddedTokens = AddedTokenMatcher(self.addedTokens.filter { !$0.isNormalized })
        normalizedAddedTokens = AddedTokenMatcher(self.addedTokens.filter { $0.isNormalized })
        self.ids = ids
        self.tokens = tokens
        tokenBytes = TokenBytes(tokens: tokens, specialIDs: special)
    }

    /// The added tokens to install, without empty ones, with their ids checked.
    private static func resolveIDs(
        of definition: TokenizerDefinition, vocabularyIDs: [[UInt8]: Int]
    ) throws -> [AddedToken] {
        let source = definition.source
        var resolved: [AddedToken] = []
        var assigned: [[UInt8]: Int] = [:]
        var nextID = definition.vocabulary.count  // tokenizers: model.get_vocab_size(), the number of entries
        for (index, token) in definition.addedTokens.enumerated() where !token.content.isEmpty {
            let content = Array(token.content.utf8)
            switch definition.addedTokenIDs {
            case .given:
                if let vocabularyID = vocabularyIDs[content], vocabularyID != token.id {
                    throw TokenizerError(
                        .inconsistentVocabulary,
                        "\(source): added token \"\(token.content)\" has id \(token.id), but the vocabulary gives it "
                            + "id \(vocabularyID); an added token already in the vocabulary must keep its id.")
                }
            case .checkedAgainstTokenizers:
                let id: Int
                if let existing = assigned[content] ?? vocabularyIDs[content] {
                    id = existing
                } else {
                    id = nextID
                    nextID += 1
                }
                guard id == token.id else {
                    throw TokenizerError(
                        .inconsistentVocabulary,
                        "\(source): added_tokens[\(index)] (\"\(token.content)\") says id \(token.id), but Hugging "
                            + "Face tokenizers would load it as id \(id) (its vocabulary id, or the next id after the "
                            + "vocabulary); fix the file's ids.")
                }
                assigned[content] = id
            }
            resolved.append(token)
        }
        return resolved
    }

    private static func checkRange(_ id: Int, of token: String, in source: String) throws {
        // Far above any real vocabulary; guards against allocating for a corrupt id.
        guard (0..<(1 << 24)).contains(id) else {
            throw TokenizerError(
                .inconsistentVocabulary, "\(source): token \"\(token)\" has id \(id), outside 0..<\(1 << 24).")
        }
    }

    // MARK: - Encoding

    /// The token ids of `text`. No special tokens are added: write them in the text (e.g. `<|im_start|>`).
    public func encode(_ text: String) -> [Int] {
        var text = text
        return text.withUTF8 { encode(utf8: $0) }
    }

    private func encode(utf8 bytes: UnsafeBufferPointer<UInt8>) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(bytes.count / 3 + 1)
        var segments: [TextSegment] = []
        rawAddedTokens.split(bytes, 0..<bytes.count, into: &segments)
        if !normalizedAddedTokens.isEmpty {
            var refined: [TextSegment] = []
            for segment in segments {
                if segment.tokenID == nil {
                    normalizedAddedTokens.split(bytes, segment.range, into: &refined)
                } else {
                    refined.append(segment)
                }
            }
            segments = refined
        }
        var preScratch = PreTokenizer.Scratch()
        var bpeScratch = BytePairEncoder.Scratch()
        var pieces: [Range<Int>] = []
        for segment in segments {
            if let id = segment.tokenID {
                result.append(id)
                continue
            }
            pieces.removeAll(keepingCapacity: true)
            preTokenizer.split(bytes, segment.range, scratch: &preScratch, into: &pieces)
            for piece in pieces {
                encoder.encode(UnsafeBufferPointer(rebasing: bytes[piece]), into: &result, scratch: &bpeScratch)
            }
        }
        return result
    }

    // MARK: - Decoding

    /// The text of `ids`: each token's bytes, concatenated, decoded as UTF-8 with U+FFFD for ill-formed bytes.
    /// Unknown ids are skipped, and so are special tokens when `skipSpecialTokens` is true.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var repairer = UTF8Repairer()
        var output: [UInt8] = []
        for id in ids {
            tokenBytes.withBytes(of: id, skipSpecial: skipSpecialTokens) { repairer.feed($0, into: &output) }
        }
        repairer.finish(into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// A detokenizer that turns ids into text one at a time, for streaming generated tokens.
    public func makeStreamingDetokenizer(skipSpecialTokens: Bool = false) -> StreamingDetokenizer {
        StreamingDetokenizer(table: tokenBytes, skipsSpecialTokens: skipSpecialTokens)
    }

    // MARK: - Vocabulary

    /// The id of a token string (added tokens first, then the vocabulary), compared byte for byte.
    public func id(of token: String) -> Int? { ids[Array(token.utf8)] }

    /// The token string of an id (added tokens first, then the vocabulary), in its stored (byte-level) form.
    public func token(of id: Int) -> String? { id >= 0 && id < tokens.count ? tokens[id] : nil }

    /// Whether `id` is a special added token (skipped by `decode(_:skipSpecialTokens: true)`).
    public func isSpecial(_ id: Int) -> Bool { tokenBytes.isSpecial(id) }
}

/// The parts of a merge line "left right", split at each U+0020 byte like tokenizers' `line.split(' ')`.
func splitMerge(_ line: String) -> [String] {
    line.utf8.split(separator: 0x20, omittingEmptySubsequences: false).map { String(Substring($0)) }
}
