// SHA-256 (FIPS 180-4) through OpenSSL's EVP interface: one-shot (`SHA256.hash(_:)`) and incremental (`update`
// with any number of chunks, then `finalize`). OpenSSL picks the fastest code for the CPU (SHA-NI, AVX2), so large
// model files hash at memory speed in debug builds too.
//
// `SHA256` is a value: copying it copies the digest state (copy on write of the underlying EVP_MD_CTX), and
// `finalize` leaves the receiver untouched, so a caller can read the digest so far and keep feeding bytes.

import CCrypto
import Foundation

/// An incremental SHA-256 digest.
public struct SHA256: Sendable {
    /// Digest length in bytes.
    public static let byteCount = 32

    private var state: DigestState

    /// A digest of no bytes yet.
    public init() {
        state = DigestState()
    }

    /// Feeds `bytes` into the digest.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if !isKnownUniquelyReferenced(&state) { state = state.copy() }
        state.update(bytes)
    }

    /// Feeds `bytes` into the digest.
    public mutating func update<Bytes: ContiguousBytes>(_ bytes: Bytes) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The 32-byte digest of everything fed so far (the receiver can go on being updated).
    public func finalize() -> [UInt8] {
        state.copy().finish()
    }

    /// The digest as 64 lowercase hex digits.
    public func hexDigest() -> String {
        Hex.encode(finalize())
    }

    /// The SHA-256 of `bytes`.
    public static func hash<Bytes: ContiguousBytes>(_ bytes: Bytes) -> [UInt8] {
        bytes.withUnsafeBytes { buffer in
            var out = [UInt8](repeating: 0, count: byteCount)
            var length: UInt32 = 0
            let ok = out.withUnsafeMutableBufferPointer {
                EVP_Digest(buffer.baseAddress, buffer.count, $0.baseAddress, &length, EVP_sha256(), nil)
            }
            precondition(ok == 1 && length == byteCount, "OpenSSL EVP_Digest(SHA-256) failed")
            return out
        }
    }

    /// The SHA-256 of `bytes` as 64 lowercase hex digits.
    public static func hexDigest<Bytes: ContiguousBytes>(of bytes: Bytes) -> String {
        Hex.encode(hash(bytes))
    }
}

/// Owns one EVP_MD_CTX. Mutated only through a uniquely referenced `SHA256` (copy on write), hence Sendable.
private final class DigestState: @unchecked Sendable {
    let context: OpaquePointer

    init() {
        guard let context = EVP_MD_CTX_new() else {
            preconditionFailure("OpenSSL EVP_MD_CTX_new failed (out of memory)")
        }
        precondition(EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1, "OpenSSL EVP_DigestInit_ex(SHA-256) failed")
        self.context = context
    }

    private init(copying other: DigestState) {
        guard let context = EVP_MD_CTX_new() else {
            preconditionFailure("OpenSSL EVP_MD_CTX_new failed (out of memory)")
        }
        precondition(EVP_MD_CTX_copy_ex(context, other.context) == 1, "OpenSSL EVP_MD_CTX_copy_ex failed")
        self.context = context
    }

    deinit {
        EVP_MD_CTX_free(context)
    }

    func copy() -> DigestState { DigestState(copying: self) }

    func update(_ bytes: UnsafeRawBufferPointer) {
        precondition(EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) == 1, "OpenSSL EVP_DigestUpdate failed")
    }

    /// Finishes this (private, throw-away) state.
    func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: SHA256.byteCount)
        var length: UInt32 = 0
        let ok = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        precondition(ok == 1 && length == SHA256.byteCount, "OpenSSL EVP_DigestFinal_ex failed")
        return out
    }
}
