// STUB — DELETE THIS FILE WHEN BRANCH `tokenizer` IS MERGED. It stands in for `Tokenization.Tokenizer` and
// `Tokenization.AddedToken` (the agreed API) so that `GGUFLlamaCheckpoint+Tokenizer.swift` compiles before the
// tokenizer lands. It does not tokenize anything. Once deleted, the names resolve to the Tokenization target's
// types; then make `makeTokenizer()` public.

/// Stand-in for `Tokenization.AddedToken` (stub; see the file header).
struct AddedToken {
    let id: Int
    let content: String
    let isSpecial: Bool

    init(id: Int, content: String, isSpecial: Bool) {
        self.id = id
        self.content = content
        self.isSpecial = isSpecial
    }
}

/// Stand-in for `Tokenization.Tokenizer` (stub; see the file header): keeps its inputs, tokenizes nothing.
struct Tokenizer {
    let vocabulary: [String]
    let merges: [String]
    let addedTokens: [AddedToken]

    init(vocabulary: [String], merges: [String], addedTokens: [AddedToken]) throws {
        self.vocabulary = vocabulary
        self.merges = merges
        self.addedTokens = addedTokens
    }
}
