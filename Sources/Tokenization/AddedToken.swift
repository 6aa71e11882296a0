// Added tokens (special and user-defined): tokens matched verbatim in the text before pre-tokenization.
//
// Port of tokenizers 0.23.3 `AddedToken` (tokenizers/src/tokenizer/added_vocabulary.rs); AddedTokenMatcher.swift
// finds them in text:
// - Tokens are matched leftmost-longest and verbatim (an Aho-Corasick automaton there, a byte trie here), first the
//   non-normalized ones on the whole text, then the normalized ones on the text left between those matches (with
//   no normalizer the second pass also matches verbatim).
// - `single_word` drops a match touching a word character (Unicode \w) on either side; scanning resumes after it.
// - `lstrip` / `rstrip` extend a match over the whitespace (Unicode White_Space) before / after it, which is
//   thereby dropped from the text.
//
// Config keys read (tokenizer.json `added_tokens[]`): id, content, special, normalized, lstrip, rstrip, single_word.

/// A token matched verbatim in the text before BPE, such as `<|im_start|>` or `<image>`.
public struct AddedToken: Sendable, Hashable {
    /// The token id.
    public var id: Int
    /// The exact text of the token.
    public var content: String
    /// Whether the token is special (`special`): dropped by `decode(_:skipSpecialTokens: true)`.
    public var isSpecial: Bool
    /// Whether the token is matched in the second pass, on text the normalizer has seen (`normalized`).
    public var isNormalized: Bool
    /// Whether the match swallows the whitespace before it (`lstrip`).
    public var stripsLeft: Bool
    /// Whether the match swallows the whitespace after it (`rstrip`).
    public var stripsRight: Bool
    /// Whether the token only matches as a whole word, not touching word characters (`single_word`).
    public var isSingleWord: Bool

    /// Creates an added token; `isNormalized` defaults to `!isSpecial`, as in tokenizers' `AddedToken::from`.
    public init(
        id: Int, content: String, isSpecial: Bool = true, isNormalized: Bool? = nil, stripsLeft: Bool = false,
        stripsRight: Bool = false, isSingleWord: Bool = false
    ) {
        self.id = id
        self.content = content
        self.isSpecial = isSpecial
        self.isNormalized = isNormalized ?? !isSpecial
        self.stripsLeft = stripsLeft
        self.stripsRight = stripsRight
        self.isSingleWord = isSingleWord
    }
}
