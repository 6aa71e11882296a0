// Comparison of secrets (API keys, authentication codes) whose running time does not depend on where the inputs
// differ, so a client cannot find a key byte by byte by timing the answers. OpenSSL's CRYPTO_memcmp.

import CCrypto
import Foundation

/// Constant-time comparisons.
public enum ConstantTime {
    /// Whether `a` and `b` hold the same bytes. The time depends only on the lengths; lengths that differ answer
    /// false at once (use `equalsHidingLength` when the length itself is secret).
    public static func equals<A: ContiguousBytes, B: ContiguousBytes>(_ a: A, _ b: B) -> Bool {
        a.withUnsafeBytes { a in
            b.withUnsafeBytes { b in
                guard a.count == b.count else { return false }
                guard !a.isEmpty else { return true }
                return CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0
            }
        }
    }

    /// Whether `a` and `b` are equal, in a time that depends on neither content nor length of the secret: both
    /// are hashed with SHA-256 and the digests compared in constant time. For API keys and passwords.
    public static func equalsHidingLength(_ a: String, _ b: String) -> Bool {
        equals(SHA256.hash(Array(a.utf8)), SHA256.hash(Array(b.utf8)))
    }
}
