// VigilCrypto against published test vectors: SHA-256 (FIPS 180-4 examples), HMAC-SHA256 (RFC 4231), plus the
// constant-time comparison and the random tokens.

import Foundation
import Testing
import VigilCrypto

@Suite struct VigilCryptoTests {
    @Test func sha256OneShotMatchesIncremental() {
        let data = Array((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        var hasher = SHA256()
        hasher.update(data[..<1234])
        let partial = hasher.hexDigest()
        hasher.update(data[1234...])
        #expect(hasher.finalize() == SHA256.hash(data))
        #expect(partial == SHA256.hexDigest(of: data[..<1234]))
        #expect(
            SHA256.hexDigest(of: Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
    }

    @Test func copiesAreIndependent() {
        var a = SHA256()
        a.update(Data("ab".utf8))
        var b = a
        b.update(Data("c".utf8))
        a.update(Data("x".utf8))
        #expect(b.hexDigest() == SHA256.hexDigest(of: Data("abc".utf8)))
        #expect(a.hexDigest() == SHA256.hexDigest(of: Data("abx".utf8)))
    }

    @Test func hmacRFC4231() {
        // Test case 1: key = 20 × 0x0b, data = "Hi There".
        #expect(
            Hex.encode(
                HMACSHA256.authenticationCode(for: Data("Hi There".utf8), key: [UInt8](repeating: 0x0b, count: 20)))
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        // Test case 2: key = "Jefe", data = "what do ya want for nothing?".
        let code = HMACSHA256.authenticationCode(for: Data("what do ya want for nothing?".utf8), key: Data("Jefe".utf8))
        #expect(Hex.encode(code) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(HMACSHA256.isValid(code, for: Data("what do ya want for nothing?".utf8), key: Data("Jefe".utf8)))
        #expect(!HMACSHA256.isValid(code, for: Data("what do ya want for nothing!".utf8), key: Data("Jefe".utf8)))
        // Test case 6: a 131-byte key (longer than the block) is hashed first.
        #expect(
            Hex.encode(
                HMACSHA256.authenticationCode(
                    for: Data("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
                    key: [UInt8](repeating: 0xaa, count: 131)))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        // An empty key is a valid key (RFC 2104 pads it with zeros).
        #expect(
            Hex.encode(HMACSHA256.authenticationCode(for: Data(), key: Data()))
                == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test func constantTimeEquality() {
        #expect(ConstantTime.equals([1, 2, 3] as [UInt8], [1, 2, 3] as [UInt8]))
        #expect(!ConstantTime.equals([1, 2, 3] as [UInt8], [1, 2, 4] as [UInt8]))
        #expect(!ConstantTime.equals([1, 2, 3] as [UInt8], [1, 2] as [UInt8]))
        #expect(ConstantTime.equals([UInt8](), [UInt8]()))
        #expect(ConstantTime.equalsHidingLength("secret-key", "secret-key"))
        #expect(!ConstantTime.equalsHidingLength("secret-key", "secret-kez"))
        #expect(!ConstantTime.equalsHidingLength("secret-key", "secret"))
    }

    @Test func randomTokens() {
        let a = SecureRandom.hexToken(byteCount: 16)
        let b = SecureRandom.hexToken(byteCount: 16)
        #expect(a.count == 32 && b.count == 32 && a != b)
        #expect(a.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(SecureRandom.bytes(count: 0).isEmpty)
        #expect(SecureRandom.bytes(count: 100).count == 100)
    }
}
