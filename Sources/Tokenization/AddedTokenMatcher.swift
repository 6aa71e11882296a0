// Finds added tokens in UTF-8 text, as tokenizers 0.23.3 `AddedVocabulary::find_matches` does
// (tokenizers/src/tokenizer/added_vocabulary.rs).
//
// tokenizers builds an Aho-Corasick automaton (daachorse, leftmost-longest); a byte trie tried at each position
// gives the same matches: the leftmost start with any match, the longest token there, then on after its end.
// `single_word` uses Rust regex's Unicode \w, `lstrip` / `rstrip` its \s (the White_Space property).

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
