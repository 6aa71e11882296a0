// Cryptographically secure random bytes from OpenSSL's CSPRNG (RAND_bytes, seeded from the kernel), for API keys,
// session and request ids.

import CCrypto
import Foundation

/// Secure random bytes and tokens.
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(count: Int) -> [UInt8] {
        precondition(count >= 0, "negative byte count")
        var out = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return out }
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32($0.count)) }
        // RAND_bytes fails only when the kernel's entropy source is unavailable: nothing a caller could recover from.
        precondition(ok == 1, "OpenSSL RAND_bytes failed: no entropy source")
        return out
    }

    /// A token of `byteCount` random bytes as lowercase hex (twice as many characters).
    public static func hexToken(byteCount: Int = 16) -> String {
        Hex.encode(bytes(count: byteCount))
    }
}

/// Lowercase hexadecimal text of bytes.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// `bytes` as lowercase hex, two digits per byte.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
