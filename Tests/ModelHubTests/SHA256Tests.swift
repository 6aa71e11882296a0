// The SHA-256 that checks LFS downloads (VigilCrypto's, over OpenSSL), against FIPS 180-4 test vectors, fed whole
// and in pieces.

import Foundation
import Testing
import VigilCrypto

@testable import ModelHub

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(sha256Hex(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(sha256Hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            sha256Hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            sha256Hex(Data(repeating: 0x61, count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func chunkingDoesNotChangeTheDigest() {
        let data = Data((0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        for chunk in [1, 3, 63, 64, 65, 1000] {
            var hasher = SHA256()
            var offset = 0
            while offset < data.count {
                hasher.update(data[offset..<min(offset + chunk, data.count)])
                offset += chunk
            }
            #expect(hasher.hexDigest() == sha256Hex(data), "chunk \(chunk)")
        }
    }
}
