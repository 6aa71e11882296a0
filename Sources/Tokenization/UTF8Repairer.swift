// Lossy UTF-8 decoding, incremental: Rust's `String::from_utf8_lossy`, which the ByteLevel decoder applies to the
// concatenated bytes of all tokens (tokenizers/src/pre_tokenizers/byte_level.rs `decode_chain`).
//
// Each maximal ill-formed subpart becomes one U+FFFD (Unicode "substitution of maximal subparts", the well-formed
// sequences of Table 3-7). A well-formed prefix that could still be completed is held back; only `finish` turns a
// prefix left incomplete at the end into U+FFFD, as the batch decode does at the end of its input.

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
