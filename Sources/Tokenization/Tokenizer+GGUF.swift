// Building a tokenizer from a GGUF file's `tokenizer.ggml.*` metadata (the GGUF reader lives elsewhere).
//
// Keys: tokenizer.ggml.model ("gpt2" = byte-level BPE), tokenizer.ggml.pre (pre-tokenizer name; "smollm" is
// Digits(individual) + the GPT-2 regex, the same as SmolLM2's tokenizer.json), tokenizer.ggml.tokens (id order),
// tokenizer.ggml.merges ("a b", rank order), tokenizer.ggml.token_type (llama.cpp's llama_token_type: 1 normal,
// 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte). Control and unknown tokens become special added tokens,
// user-defined ones non-special added tokens, all matched verbatim before BPE, as in the tokenizer.json that
// Hugging Face builds from the same vocabulary.

extension Tokenizer {
    /// The `tokenizer.ggml.*` metadata of a GGUF file.
    public struct GGUFVocabulary: Sendable {
        /// `tokenizer.ggml.model`; only "gpt2" (byte-level BPE) is supported.
        public var model: String
        /// `tokenizer.ggml.pre`; only "smollm" is supported.
        public var preTokenizer: String?
        /// `tokenizer.ggml.tokens`, in id order.
        public var tokens: [String]
        /// `tokenizer.ggml.merges`, in rank order, each "left right".
        public var merges: [String]
        /// `tokenizer.ggml.token_type`, one per token; empty means all normal.
        public var tokenTypes: [Int]

        /// Creates the metadata from the GGUF values.
        public init(model: String, preTokenizer: String?, tokens: [String], merges: [String], tokenTypes: [Int]) {
            self.model = model
            self.preTokenizer = preTokenizer
            self.tokens = tokens
            self.merges = merges
            self.tokenTypes = tokenTypes
        }
    }

    /// The 128 tokens SmolVLM adds to SmolLM2's vocabulary, in id order from 49152: `<global-img>`, the 36
    /// `<row_r_col_c>` tiles, `<fake_token_around_image>`, `<image>`, 88 reserved tokens, `<end_of_utterance>`.
    public static let smolVLMExtraTokens: [String] = {
        var names = ["<global-img>"]
        for row in 1...6 {
            for column in 1...6 { names.append("<row_\(row)_col_\(column)>") }
        }
        names += ["<fake_token_around_image>", "<image>"]
        names += (0..<88).map { "<|reserved_special_token_\($0)|>" }
        names.append("<end_of_utterance>")
        return names
    }()

    /// Builds a tokenizer from GGUF metadata, plus `extraSpecialTokens` appended after the vocabulary.
    ///
    /// For SmolVLM2 from the SmolLM2 GGUF, pass `Tokenizer.smolVLMExtraTokens`: the result encodes and decodes
    /// exactly like SmolVLM2's tokenizer.json.
    /// - Throws: `TokenizerError` for another model or pre-tokenizer type, byte tokens, or malformed merges.
    public convenience init(gguf: GGUFVocabulary, extraSpecialTokens: [String] = []) throws {
        let source = "GGUF tokenizer metadata"
        guard gguf.model == "gpt2" else {
            throw TokenizerError(
                .unsupportedConfiguration,
                "\(source): tokenizer.ggml.model is \"\(gguf.model)\"; only \"gpt2\" (byte-level BPE) is supported.")
        }
        guard gguf.preTokenizer == "smollm" else {
            throw TokenizerError(
                .unsupportedConfiguration,
                "\(source): tokenizer.ggml.pre is \(gguf.preTokenizer.map { "\"\($0)\"" } ?? "missing"); only "
                    + "\"smollm\" (SmolLM2's digits + GPT-2 regex pre-tokenizer) is supported.")
        }
        guard gguf.tokenTypes.isEmpty || gguf.tokenTypes.count == gguf.tokens.count else {
            throw TokenizerError(
                .malformedFile,
                "\(source): tokenizer.ggml.token_type has \(gguf.tokenTypes.count) entries for "
                    + "\(gguf.tokens.count) tokens; the GGUF file is damaged.")
        }
        var added: [AddedToken] = []
        for (id, type) in gguf.tokenTypes.enumerated() {
            switch type {
            case 2, 3: added.append(AddedToken(id: id, content: gguf.tokens[id], isSpecial: true))
            case 4: added.append(AddedToken(id: id, content: gguf.tokens[id], isSpecial: false, isNormalized: false))
            case 6:
                throw TokenizerError(
                    .unsupportedConfiguration,
                    "\(source): tokenizer.ggml.token_type marks token \(id) as a byte token (6), which byte-level BPE "
                        + "does not use; this GGUF vocabulary is not GPT-2 style.")
            default: break
            }
        }
        for (offset, content) in extraSpecialTokens.enumerated() {
            added.append(AddedToken(id: gguf.tokens.count + offset, content: content, isSpecial: true))
        }
        try self.init(vocabulary: gguf.tokens, merges: gguf.merges, addedTokens: added)
    }
}
