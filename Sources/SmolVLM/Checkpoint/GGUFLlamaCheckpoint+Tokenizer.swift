// The one place that builds a `Tokenizer` (Tokenization target) from a GGUF checkpoint's tokenizer metadata.
// Control tokens (token type 3) become special added tokens, user-defined ones (type 4) plain added tokens.
//
// The Vigil tokenizer implements SmolLM2's byte-level BPE with its pre-tokenizer (digits split individually, then
// GPT-2's regex): llama.cpp calls that tokenizer model "gpt2" with pre-tokenizer "smollm". Other pre-tokenizers
// split text differently, so they are refused rather than tokenized wrongly.

import Tokenization

extension GGUFLlamaCheckpoint {
    /// The pre-tokenizers (`tokenizer.ggml.pre`) whose splitting the Vigil tokenizer implements.
    public static let supportedPreTokenizers: Set<String> = ["smollm"]

    /// A tokenizer for this checkpoint's vocabulary, merges and control tokens.
    public func makeTokenizer() throws -> Tokenizer {
        guard tokenizerModel == "gpt2", let pre = tokenizerPreTokenizer, Self.supportedPreTokenizers.contains(pre)
        else {
            throw GGUFError(
                .unsupportedTokenizer, path: url.path,
                "the tokenizer is '\(tokenizerModel)' with pre-tokenizer '\(tokenizerPreTokenizer ?? "none")' "
                    + "(tokenizer.ggml.model, tokenizer.ggml.pre); Vigil implements 'gpt2' with 'smollm' (SmolLM2)")
        }
        return try Tokenizer(
            vocabulary: tokenizerVocabulary, merges: tokenizerMerges,
            addedTokens: addedTokens.map { AddedToken(id: $0.id, content: $0.content, isSpecial: $0.isSpecial) })
    }
}
