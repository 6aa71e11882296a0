// HMAC-SHA256 (RFC 2104, FIPS 198-1) with OpenSSL's one-shot HMAC(): signing tokens and webhook payloads.

import CCrypto
import Foundation

/// HMAC with SHA-256.
public enum HMACSHA256 {
    /// Length of an authentication code in bytes.
    public static let byteCount = 32

    /// The 32-byte authentication code of `message` under `key` (a key of any length).
    public static func authenticationCode<Message: ContiguousBytes, Key: ContiguousBytes>(
        for message: Message, key: Key
    ) -> [UInt8] {
        var empty: UInt8 = 0
        return withUnsafeBytes(of: &empty) { emptyKey in
            key.withUnsafeBytes { key in
                message.withUnsafeBytes { message in
                    // A NULL key means "keep the previous key" to OpenSSL: an empty key gets a valid pointer.
                    let keyPointer = key.isEmpty ? emptyKey.baseAddress : key.baseAddress
                    var out = [UInt8](repeating: 0, count: byteCount)
                    var length: UInt32 = 0
                    let result = out.withUnsafeMutableBufferPointer {
                        HMAC(
                            EVP_sha256(), keyPointer, Int32(key.count),
                            message.baseAddress?.assumingMemoryBound(to: UInt8.self), message.count, $0.baseAddress,
                            &length)
                    }
                    precondition(result != nil && length == byteCount, "OpenSSL HMAC(SHA-256) failed")
                    return out
                }
            }
        }
    }

    /// Whether `code` is the authentication code of `message` under `key`, compared in constant time.
    public static func isValid<Message: ContiguousBytes, Key: ContiguousBytes, Code: ContiguousBytes>(
        _ code: Code, for message: Message, key: Key
    ) -> Bool {
        ConstantTime.equals(authenticationCode(for: message, key: key), code)
    }
}
