// Splits text (between added tokens) into the pieces BPE runs on: Digits, then the ByteLevel GPT-2 regex.
//
// Ports two tokenizers 0.23.3 pre-tokenizers, applied in this order as `Sequence[Digits, ByteLevel]`:
// - `Digits` (tokenizers/src/pre_tokenizers/digits.rs): splits on Rust's `char::is_numeric`, each numeric character
//   its own piece when `individual_digits` is true, runs of them together otherwise.
// - `ByteLevel` with `use_regex` (pre_tokenizers/byte_level.rs): within each piece, the Oniguruma regex
//       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   finds consecutive matches (every character is matched by some branch, so the matches tile the piece). Each
//   piece is matched on its own, so `(?!\S)` sees the end of the piece, not of the text. Worked out by hand:
//   1. `'` followed by s t m d, or by re ve ll (lower case only), is a contraction.
//   2. Otherwise a letter, number or "other" run, optionally led by one U+0020 space, is one piece.
//   3. A whitespace run takes all of its characters if it ends the piece or has length 1; otherwise it leaves its
//      last character to the next piece (which then is " word" when that character is U+0020, or a lone space).
// The byte -> character map of ByteLevel is folded into BPE (it starts from byte tokens).
//
// Config keys read (tokenizer.json `pre_tokenizer`): Digits.individual_digits, ByteLevel.add_prefix_space (must be
// false), ByteLevel.use_regex.

/// The pre-tokenizer: an optional Digits split followed by the ByteLevel regex split.
struct PreTokenizer: Sendable {
    /// How the Digits pre-tokenizer splits, or nil when there is none.
    enum DigitSplit: Sendable { case individual, contiguous }

    /// The Digits step, if any.
    var digits: DigitSplit?
    /// Whether ByteLevel splits with the GPT-2 regex (`use_regex`).
    var usesRegex: Bool

    /// SmolLM2's pre-tokenizer: Digits(individual_digits: true), ByteLevel(add_prefix_space: false, use_regex: true).
    static let smolLM = PreTokenizer(digits: .individual, usesRegex: true)

    /// Reusable per-call buffers: the code points of the current text segment.
    struct Scratch {
        /// Byte offset of each code point, plus the segment end.
        var starts: [Int] = []
        /// `CharacterClass` bits of each code point.
        var classes: [UInt8] = []
    }

    /// Appends the byte ranges of the pieces of `bytes[range]` to `pieces`, in order. `bytes` is valid UTF-8.
    func split(
        _ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, scratch: inout Scratch,
        into pieces: inout [Range<Int>]
    ) {
        guard !range.isEmpty else { return }
        decodeClasses(bytes, range, into: &scratch)
        let count = scratch.classes.count
        scratch.classes.withUnsafeBufferPointer { classes in
            scratch.starts.withUnsafeBufferPointer { starts in
                guard let digits else {
                    splitRegex(bytes, starts, classes, 0..<count, into: &pieces)
                    return
                }
                // Digits: numeric code points (or runs of them) become pieces of their own, isolated.
                var segmentStart = 0
                var index = 0
                while index < count {
                    guard classes[index] & CharacterClass.numericBit != 0 else {
                        index += 1
                        continue
                    }
                    if segmentStart < index { splitRegex(bytes, starts, classes, segmentStart..<index, into: &pieces) }
                    var end = index + 1
                    if digits == .contiguous {
                        while end < count && classes[end] & CharacterClass.numericBit != 0 { end += 1 }
                    }
                    splitRegex(bytes, starts, classes, index..<end, into: &pieces)
                    index = end
                    segmentStart = end
                }
                if segmentStart < count { splitRegex(bytes, starts, classes, segmentStart..<count, into: &pieces) }
            }
        }
    }

    /// Fills `scratch` with the byte offset and class of each code point of `bytes[range]`.
    private func decodeClasses(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into scratch: inout Scratch) {
        scratch.starts.removeAll(keepingCapacity: true)
        scratch.classes.removeAll(keepingCapacity: true)
        let basicPlane = UnicodeClasses.basicPlane
        var index = range.lowerBound
        while index < range.upperBound {
            let lead = UInt32(bytes[index])
            var scalar = lead
            var length = 1
            if lead >= 0xF0 {
                length = 4
                scalar =
                    (lead & 0x07) << 18 | UInt32(bytes[index + 1] & 0x3F) << 12
                    | UInt32(bytes[index + 2] & 0x3F) << 6 | UInt32(bytes[index + 3] & 0x3F)
            } else if lead >= 0xE0 {
                length = 3
                scalar = (lead & 0x0F) << 12 | UInt32(bytes[index + 1] & 0x3F) << 6 | UInt32(bytes[index + 2] & 0x3F)
            } else if lead >= 0xC0 {
                length = 2
                scalar = (lead & 0x1F) << 6 | UInt32(bytes[index + 1] & 0x3F)
            }
            scratch.starts.append(index)
            scratch.classes.append(
                scalar < 0x10000 ? basicPlane[Int(scalar)] : UnicodeClasses.classify(scalar).bits)
            index += length
        }
        scratch.starts.append(range.upperBound)
    }

    /// Appends the GPT-2 regex matches of the code points `span` (indices into `starts`/`classes`) as byte ranges.
    private func splitRegex(
        _ bytes: UnsafeBufferPointer<UInt8>, _ starts: UnsafeBufferPointer<Int>, _ classes: UnsafeBufferPointer<UInt8>,
        _ span: Range<Int>, into pieces: inout [Range<Int>]
    ) {
        guard usesRegex else {
            pieces.append(starts[span.lowerBound]..<starts[span.upperBound])
            return
        }
        let end = span.upperBound
        let space = CharacterClass.Kind.space.rawValue
        @inline(__always) func kind(_ index: Int) -> UInt8 { classes[index] & CharacterClass.kindMask }
        // An ASCII code point is one byte, so comparing the first byte of a code point tests for it exactly.
        @inline(__always) func isASCII(_ index: Int, _ byte: UInt8) -> Bool { bytes[starts[index]] == byte }

        var index = span.lowerBound
        while index < end {
            var matchEnd: Int
            // Branch 1: contractions.
            if isASCII(index, UInt8(ascii: "'")) && index + 1 < end {
                let next = bytes[starts[index + 1]]
                if next == UInt8(ascii: "s") || next == UInt8(ascii: "t") || next == UInt8(ascii: "m")
                    || next == UInt8(ascii: "d")
                {
                    pieces.append(starts[index]..<starts[index + 2])
                    index += 2
                    continue
                }
                if index + 2 < end {
                    let third = bytes[starts[index + 2]]
                    if (next == UInt8(ascii: "r") && third == UInt8(ascii: "e"))
                        || (next == UInt8(ascii: "v") && third == UInt8(ascii: "e"))
                        || (next == UInt8(ascii: "l") && third == UInt8(ascii: "l"))
                    {
                        pieces.append(starts[index]..<starts[index + 3])
                        index += 3
                        continue
                    }
                }
            }
            // Branches 2-4: an optional U+0020 then a run of letters, numbers or "other" characters.
            var runStart = index
            if isASCII(index, 0x20) && index + 1 < end && kind(index + 1) != space { runStart = index + 1 }
            let runKind = kind(runStart)
            if runKind != space {
                matchEnd = runStart + 1
                while matchEnd < end && kind(matchEnd) == runKind { matchEnd += 1 }
            } else {
                // Branches 5-6: whitespace, leaving its last character for the next piece when \S follows.
                matchEnd = index + 1
                while matchEnd < end && kind(matchEnd) == space { matchEnd += 1 }
                if matchEnd < end && matchEnd - index > 1 { matchEnd -= 1 }
            }
            pieces.append(starts[index]..<starts[matchEnd])
            index = matchEnd
        }
    }
}
