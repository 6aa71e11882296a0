// Added tokens (special and user-defined) and how they are found in text before pre-tokenization.
//
// Port of tokenizers 0.23.3 `AddedToken` and `AddedVocabulary::find_matches` / `extract_and_normalize`
// (tokenizers/src/tokenizer/added_vocabulary.rs):
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

/// A stretch of the input: either text for the pre-tokenizer or one added token.
struct TextSegment {
    /// Byte range in the input.
    var range: Range<Int>
    /// The added token's id, or nil for text.
    var tokenID: Int?
}

/// Finds added tokens in UTF-8 text, leftmost-longest, honouring their strip and single-word flags.
struct AddedTokenMatcher: Sendable {
    private let tokens: [AddedToken]
    /// Trie edges: node << 8 | byte -> child node. Node 0 is the root.
    private let edges: [Int: Int32]
    /// The token (index into `tokens`) ending at each node, or -1.
    private let terminals: [Int32]
    /// Whether any token starts with each byte value.
    private let firstBytes: [Bool]

    /// A matcher for `tokens`; a later token with the same content replaces an earlier one.
    init(_ tokens: [AddedToken]) {
        self.tokens = tokens
        var edges: [Int: Int32] = [:]
        var terminals: [Int32] = [-1]
        var firstBytes = [Bool](repeating: false, count: 256)
        for (index, token) in tokens.enumerated() where !token.content.isEmpty {
            var node = 0
            for byte in token.content.utf8 {
                let key = node << 8 | Int(byte)
                if let child = edges[key] {
                    node = Int(child)
                } else {
                    edges[key] = Int32(terminals.count)
                    node = terminals.count
                    terminals.append(-1)
                }
            }
            terminals[node] = Int32(index)
            firstBytes[Int(token.content.utf8.first ?? 0)] = true
        }
        self.edges = edges
        self.terminals = terminals
        self.firstBytes = firstBytes
    }

    /// Whether there is nothing to match.
    var isEmpty: Bool { tokens.isEmpty }

    /// Appends the segments of `bytes[range]` (the "sentence") to `segments`: added tokens and the text between.
    func split(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into segments: inout [TextSegment]) {
        var textStart = range.lowerBound  // tokenizers' start_offset
        var position = range.lowerBound
        while position < range.upperBound {
            guard firstBytes[Int(bytes[position])], let (matchEnd, tokenIndex) = longestMatch(bytes, position, range)
            else {
                position += 1
                continue
            }
            let token = tokens[tokenIndex]
            var start = position
            var stop = matchEnd
            position = matchEnd  // the automaton resumes after the match, whatever happens to it below
            if token.isSingleWord {
                let wordBefore = start > range.lowerBound && Self.isWordCharacter(scalarBefore(bytes, start))
                let wordAfter = stop < range.upperBound && Self.isWordCharacter(scalarAt(bytes, stop))
                if wordBefore || wordAfter { continue }
            }
            if token.stripsLeft {
                var newStart = start
                while newStart > range.lowerBound && scalarBefore(bytes, newStart).properties.isWhitespace {
                    newStart -= scalarBefore(bytes, newStart).utf8.count
                }
                start = max(newStart, textStart)
            }
            if token.stripsRight {
                while stop < range.upperBound && scalarAt(bytes, stop).properties.isWhitespace {
                    stop += scalarAt(bytes, stop).utf8.count
                }
            }
            if textStart < start { segments.append(TextSegment(range: textStart..<start, tokenID: nil)) }
            segments.append(TextSegment(range: start..<stop, tokenID: token.id))
            textStart = stop
        }
        if textStart < range.upperBound {
            segments.append(TextSegment(range: textStart..<range.upperBound, tokenID: nil))
        }
    }

    /// The end and token index of the longest token starting at `start`, if any.
    private func longestMatch(
        _ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ range: Range<Int>
    ) -> (end: Int, token: Int)? {
        var node = 0
        var best: (end: Int, token: Int)?
        var index = start
        while index < range.upperBound, let child = edges[node << 8 | Int(bytes[index])] {
            node = Int(child)
            index += 1
            if terminals[node] >= 0 { best = (index, Int(terminals[node])) }
        }
        return best
    }

    /// Rust regex's Unicode `\w`: Alphabetic, marks, decimal digits, connector punctuation, join controls.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        if properties.isAlphabetic || properties.isJoinControl { return true }
        switch properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}

/// The code point starting at byte `index` of valid UTF-8.
func scalarAt(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) -> Unicode.Scalar {
    var end = index + 1
    while end < bytes.count && bytes[end] & 0xC0 == 0x80 { end += 1 }
    return decodeScalar(bytes, index..<end)
}

/// The code point ending just before byte `index` of valid UTF-8.
func scalarBefore(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) -> Unicode.Scalar {
    var start = index - 1
    while start > 0 && bytes[start] & 0xC0 == 0x80 { start -= 1 }
    return decodeScalar(bytes, start..<index)
}

private func decodeScalar(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Unicode.Scalar {
    var iterator = bytes[range].makeIterator()
    var decoder = UTF8()
    if case .scalarValue(let scalar) = decoder.decode(&iterator) { return scalar }
    return "\u{FFFD}"
}
