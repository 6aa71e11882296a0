// SHA-256 (FIPS 180-4), to check downloaded blobs whose hub etag is their SHA-256. Foundation on Linux has no
// digest API and Vigil takes no package dependencies, so this is a plain streaming implementation: `update` with
// any number of byte chunks, then `finalize`. Written for throughput in debug builds too (unsafe buffers, wrapping
// arithmetic, no per-block allocation), since model files are hundreds of megabytes.

import Foundation

/// An incremental SHA-256 digest.
struct SHA256: Sendable {
    private static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19
    )
    /// Bytes of an unfinished block, carried to the next `update`.
    private var pending: [UInt8] = []
    private var byteCount: UInt64 = 0

    /// A digest of no bytes yet.
    init() {}

    /// Feeds `bytes` into the digest.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        byteCount &+= UInt64(bytes.count)
        var rest = bytes[...]
        if !pending.isEmpty {
            let take = min(64 - pending.count, rest.count)
            pending += rest.prefix(take)
            rest = rest.dropFirst(take)
            guard pending.count == 64 else { return }
            pending.withUnsafeBytes { compress(UnsafeRawBufferPointer(rebasing: $0[...]), blockCount: 1) }
            pending.removeAll(keepingCapacity: true)
        }
        let whole = rest.count / 64
        if whole > 0 {
            compress(UnsafeRawBufferPointer(rebasing: rest.prefix(whole * 64)), blockCount: whole)
        }
        pending += rest.dropFirst(whole * 64)
    }

    /// Feeds `bytes` into the digest.
    mutating func update<Bytes: ContiguousBytes>(_ bytes: Bytes) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The 32-byte digest of everything fed so far.
    func finalize() -> [UInt8] {
        var copy = self
        let bitCount = byteCount &* 8
        var tail: [UInt8] = [0x80]
        let used = (pending.count + 1) % 64
        tail += [UInt8](repeating: 0, count: used <= 56 ? 56 - used : 120 - used)
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitCount >> UInt64(shift)))
        }
        let savedCount = copy.byteCount
        copy.update(tail)
        copy.byteCount = savedCount
        precondition(copy.pending.isEmpty, "SHA-256 padding must end on a block boundary")
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for word in [copy.h.0, copy.h.1, copy.h.2, copy.h.3, copy.h.4, copy.h.5, copy.h.6, copy.h.7] {
            out += [
                UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8),
                UInt8(truncatingIfNeeded: word),
            ]
        }
        return out
    }

    /// The digest as 64 lowercase hex digits.
    func hexDigest() -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in finalize() {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Runs the compression function over `blockCount` 64-byte blocks of `data`.
    private mutating func compress(_ data: UnsafeRawBufferPointer, blockCount: Int) {
        var (h0, h1, h2, h3, h4, h5, h6, h7) = h
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            Self.k.withUnsafeBufferPointer { k in
                let base = data.baseAddress!
                let w = w.baseAddress!
                let k = k.baseAddress!
                // `while` loops, not `for ... in` ranges: a debug build runs them several times faster.
                var block = 0
                while block < blockCount {
                    let p = base + block &* 64
                    block &+= 1
                    // Message schedule: 16 big-endian words, then 48 mixed ones.
                    var t = 0
                    while t < 16 {
                        w[t] = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: t &* 4, as: UInt32.self))
                        t &+= 1
                    }
                    while t < 64 {
                        let a = w[t &- 15]
                        let b = w[t &- 2]
                        let s0 = ((a &>> 7) | (a &<< 25)) ^ ((a &>> 18) | (a &<< 14)) ^ (a &>> 3)
                        let s1 = ((b &>> 17) | (b &<< 15)) ^ ((b &>> 19) | (b &<< 13)) ^ (b &>> 10)
                        w[t] = w[t &- 16] &+ s0 &+ w[t &- 7] &+ s1
                        t &+= 1
                    }
                    var a = h0
                    var b = h1
                    var c = h2
                    var d = h3
                    var e = h4
                    var f = h5
                    var g = h6
                    var hh = h7
                    t = 0
                    while t < 64 {
                        let s1 = ((e &>> 6) | (e &<< 26)) ^ ((e &>> 11) | (e &<< 21)) ^ ((e &>> 25) | (e &<< 7))
                        let ch = (e & f) ^ (~e & g)
                        let t1 = hh &+ s1 &+ ch &+ k[t] &+ w[t]
                        let s0 = ((a &>> 2) | (a &<< 30)) ^ ((a &>> 13) | (a &<< 19)) ^ ((a &>> 22) | (a &<< 10))
                        let maj = (a & b) ^ (a & c) ^ (b & c)
                        let t2 = s0 &+ maj
                        hh = g
                        g = f
                        f = e
                        e = d &+ t1
                        d = c
                        c = b
                        b = a
                        a = t1 &+ t2
                        t &+= 1
                    }
                    h0 = h0 &+ a
                    h1 = h1 &+ b
                    h2 = h2 &+ c
                    h3 = h3 &+ d
                    h4 = h4 &+ e
                    h5 = h5 &+ f
                    h6 = h6 &+ g
                    h7 = h7 &+ hh
                }
            }
        }
        h = (h0, h1, h2, h3, h4, h5, h6, h7)
    }
}
