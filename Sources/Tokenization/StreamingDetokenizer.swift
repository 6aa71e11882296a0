// Token ids -> text, in one go or one id at a time, never emitting broken UTF-8.
//
// The ByteLevel decoder (tokenizers/src/pre_tokenizers/byte_level.rs `decode_chain`) concatenates the bytes of all
// tokens and then decodes them with Rust's `String::from_utf8_lossy`, which replaces each maximal ill-formed
// subpart with one U+FFFD (Unicode "substitution of maximal subparts", Table 3-7 of the standard). `UTF8Repairer`
// is that decoder made incremental: a well-formed prefix of a sequence that could still be completed is held back,
// so feeding the bytes token by token yields exactly the batch result, split into chunks that are always whole
// characters. Only `finish()` turns a held, never-completed prefix into U+FFFD, as the batch decode does at the end.

/// The bytes each token id decodes to, and which ids are special.
final class TokenBytes: Sendable {
    /// All tokens' bytes, concatenated in id order.
    private let storage: [UInt8]
    /// Start of each id's bytes in `storage`, plus the end; a missing id has an empty range.
    private let offsets: [Int32]
    /// Whether each id is skipped by `skipSpecialTokens` (its token string is a special added token's content).
    private let special: [Bool]
    /// Whether each id exists (in the vocabulary or as an added token).
    private let present: [Bool]

    /// A table for `tokens` (indexed by id; nil where no token has that id) with the given special ids.
    init(tokens: [String?], specialIDs: Set<Int>) {
        var storage: [UInt8] = []
        var offsets: [Int32] = [0]
        var special: [Bool] = []
        var present: [Bool] = []
        for (id, token) in tokens.enumerated() {
            if let token {
                storage += ByteLevel.decodedBytes(of: token)
                special.append(specialIDs.contains(id))
                present.append(true)
            } else {
                special.append(false)
                present.append(false)
            }
            offsets.append(Int32(storage.count))
        }
        self.storage = storage
        self.offsets = offsets
        self.special = special
        self.present = present
    }

    /// Calls `body` with the bytes of `id`; does nothing for unknown ids, and for special ones when `skipSpecial`.
    @inline(__always) func withBytes(of id: Int, skipSpecial: Bool, _ body: (ArraySlice<UInt8>) -> Void) {
        guard id >= 0, id < present.count, present[id], !(skipSpecial && special[id]) else { return }
        body(storage[Int(offsets[id])..<Int(offsets[id + 1])])
    }

    /// Whether `id` is a special token.
    func isSpecial(_ id: Int) -> Bool { id >= 0 && id < special.count && special[id] }
}

/// Incremental lossy UTF-8 decoding with Rust `from_utf8_lossy` / Unicode maximal-subpart replacement.
struct UTF8Repairer: Sendable {
    /// Bytes of a sequence that is well-formed so far but not complete (at most 3).
    private(set) var pending: [UInt8] = []
    /// How many bytes the pending sequence needs in total.
    private var needed = 0

    private static let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]

    /// Decodes `bytes`, appending well-formed output (with U+FFFD for ill-formed subparts) to `output`.
    mutating func feed<C: Collection<UInt8>>(_ bytes: C, into output: inout [UInt8]) {
        for byte in bytes { feed(byte, into: &output) }
    }

    /// Flushes a sequence left incomplete at the end as one U+FFFD.
    mutating func finish(into output: inout [UInt8]) {
        if !pending.isEmpty { output += Self.replacement }
        pending.removeAll(keepingCapacity: true)
        needed = 0
    }

    private mutating func feed(_ byte: UInt8, into output: inout [UInt8]) {
        if !pending.isEmpty {
            if Self.continues(pending, with: byte) {
                pending.append(byte)
                if pending.count == needed {
                    output += pending
                    pending.removeAll(keepingCapacity: true)
                }
                return
            }
            // The held prefix is a maximal ill-formed subpart; this byte starts afresh.
            output += Self.replacement
            pending.removeAll(keepingCapacity: true)
        }
        switch byte {
        case 0x00...0x7F: output.append(byte)
        case 0xC2...0xDF: start(byte, needing: 2)
        case 0xE0...0xEF: start(byte, needing: 3)
        case 0xF0...0xF4: start(byte, needing: 4)
        default: output += Self.replacement  // 0x80-0xC1, 0xF5-0xFF never start a sequence
        }
    }

    private mutating func start(_ byte: UInt8, needing count: Int) {
        pending.append(byte)
        needed = count
    }

    /// Whether `byte` can follow the well-formed prefix `prefix` (Unicode Table 3-7).
    private static func continues(_ prefix: [UInt8], with byte: UInt8) -> Bool {
        if prefix.count == 1 {
            switch prefix[0] {
            case 0xE0: return (0xA0...0xBF).contains(byte)
            case 0xED: return (0x80...0x9F).contains(byte)
            case 0xF0: return (0x90...0xBF).contains(byte)
            case 0xF4: return (0x80...0x8F).contains(byte)
            default: return (0x80...0xBF).contains(byte)
            }
        }
        return (0x80...0xBF).contains(byte)
    }
}

/// Turns token ids into text one id at a time, emitting only whole characters.
///
/// The concatenation of everything `append(_:)` and `finish()` return equals `Tokenizer.decode` of all the ids.
/// Bytes of a character split across tokens are held until the character is complete; an ill-formed byte sequence
/// becomes U+FFFD as soon as it is known to be ill-formed, and a sequence still incomplete at the end becomes U+FFFD
/// in `finish()`.
public struct StreamingDetokenizer: Sendable {
    private let table: TokenBytes
    private let skipsSpecialTokens: Bool
    private var repairer = UTF8Repairer()
    private var output: [UInt8] = []

    init(table: TokenBytes, skipsSpecialTokens: Bool) {
        self.table = table
        self.skipsSpecialTokens = skipsSpecialTokens
    }

    /// Whether bytes of an incomplete character are being held back.
    public var hasPendingBytes: Bool { !repairer.pending.isEmpty }

    /// Adds one token id and returns the text it completes (possibly empty).
    public mutating func append(_ id: Int) -> String {
        output.removeAll(keepingCapacity: true)
        table.withBytes(of: id, skipSpecial: skipsSpecialTokens) { bytes in repairer.feed(bytes, into: &output) }
        return String(decoding: output, as: UTF8.self)
    }

    /// Ends the stream: returns U+FFFD if an incomplete character was held back, otherwise "". The detokenizer can
    /// then be reused for a new stream.
    public mutating func finish() -> String {
        output.removeAll(keepingCapacity: true)
        repairer.finish(into: &output)
        return String(decoding: output, as: UTF8.self)
    }
}
