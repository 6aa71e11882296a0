// GPT-2's reversible byte <-> character map, used by the ByteLevel pre-tokenizer and decoder.
//
// Port of `bytes_char` in tokenizers/src/pre_tokenizers/byte_level.rs (itself openai/gpt-2 encoder.py
// `bytes_to_unicode`): printable bytes ! .. ~, ¡ .. ¬ and ® .. ÿ map to the character with the same code point;
// the other 68 bytes (controls, space, 0x7F-0xA0, soft hyphen) map to U+0100 + n in byte order. Every byte-level
// BPE token is a string over these 256 characters.

enum ByteLevel {
    /// The character (as a code point) that stands for each byte value.
    static let scalarOfByte: [UInt32] = {
        var scalars = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                scalars[byte] = UInt32(byte)
            } else {
                scalars[byte] = next
                next += 1
            }
        }
        return scalars
    }()

    /// The byte each mapped character stands for, indexed by code point (< 512), or -1 when not a mapped character.
    static let byteOfScalar: [Int16] = {
        var bytes = [Int16](repeating: -1, count: 512)
        for (byte, scalar) in scalarOfByte.enumerated() { bytes[Int(scalar)] = Int16(byte) }
        return bytes
    }()

    /// The bytes a token string stands for under the ByteLevel decoder: each character mapped back to its byte, or,
    /// when any character is not a mapped one (e.g. an added token containing a space), the token's own UTF-8.
    static func decodedBytes(of token: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            let value = Int(scalar.value)
            guard value < byteOfScalar.count, byteOfScalar[value] >= 0 else { return Array(token.utf8) }
            bytes.append(UInt8(byteOfScalar[value]))
        }
        return bytes
    }

    /// The token string for raw bytes: each byte replaced by its mapped character.
    static func encodedString<S: Sequence<UInt8>>(of bytes: S) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(Unicode.Scalar(scalarOfByte[Int(byte)]) ?? "\u{FFFD}") }
        return String(scalars)
    }
}
