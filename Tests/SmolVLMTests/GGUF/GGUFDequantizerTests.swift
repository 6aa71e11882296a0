// The block dequantisers against hand-built blocks: literal bytes with values worked out by hand (nibble order,
// the −8 offset of Q4_0, the minimum of Q4_1, f16 scales), then many seeded blocks against a per-element reference
// written from the ggml formulas.

import Foundation
import Kernels
import Testing
import TestSupport

@testable import SmolVLM

@Suite struct GGUFDequantizerTests {
    /// Dequantises `data` of `type` holding `count` elements.
    static func run(_ type: GGUFTensorType, _ data: [UInt8], count: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        data.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                GGUFDequantizer.dequantize(type, from: src.baseAddress!, into: dst.baseAddress!, count: count)
            }
        }
        return out
    }

    /// Seeded quants and f16 scales for the reference comparisons.
    static func randomNibbles(_ rng: inout TestRandom) -> [UInt8] {
        (0..<32).map { _ in UInt8(rng.next() % 16) }
    }

    static func randomHalf(_ rng: inout TestRandom, scale: Float) -> Float16 {
        Float16((Float(rng.next() % 20_001) / 10_000 - 1) * scale)
    }
}

// MARK: - Literal blocks

extension GGUFDequantizerTests {
    @Test func q4_0LowNibblesAreTheFirstSixteen() {
        // d = 0.5 (f16 0x3800). Byte 0 = 0xF1: element 0 = (1 − 8)·0.5, element 16 = (15 − 8)·0.5.
        var block: [UInt8] = [0x00, 0x38, 0xF1, 0x08] + Array(repeating: 0x88, count: 14)
        block[3] = 0x80  // element 1 = (0 − 8)·0.5, element 17 = (8 − 8)·0.5
        let x = Self.run(.q4_0, block, count: 32)
        #expect(x[0] == -3.5 && x[16] == 3.5)
        #expect(x[1] == -4 && x[17] == 0)
        #expect(x[2..<16].allSatisfy { $0 == 0 } && x[18..<32].allSatisfy { $0 == 0 })
    }

    @Test func q4_1AddsTheMinimum() {
        // d = 0.25 (0x3400), m = −1 (0xBC00). Byte 0 = 0x2F: element 0 = 15·0.25 − 1, element 16 = 2·0.25 − 1.
        let block: [UInt8] = [0x00, 0x34, 0x00, 0xBC, 0x2F] + Array(repeating: 0x00, count: 15)
        let x = Self.run(.q4_1, block, count: 32)
        #expect(x[0] == 2.75 && x[16] == -0.5)
        #expect(x[1..<16].allSatisfy { $0 == -1 } && x[17..<32].allSatisfy { $0 == -1 })
    }

    @Test func q8_0IsSignedTimesScale() {
        // d = −2 (0xC000); quants 0, 1, −1, 127, −128, …
        let quants: [Int8] = [0, 1, -1, 127, -128] + Array(repeating: 3, count: 27)
        let block: [UInt8] = [0x00, 0xC0] + quants.map { UInt8(bitPattern: $0) }
        let x = Self.run(.q8_0, block, count: 32)
        #expect(Array(x[0..<5]) == [0, -2, 2, -254, 256])
        #expect(x[5..<32].allSatisfy { $0 == -6 })
    }

    @Test func plainTypesWiden() {
        let halves: [Float16] = [0, 1, -2.5, 65504, .infinity, 0.000_061_035_156_25]  // max, inf, smallest normal
        let f16 = halves.flatMap { bytes(of: $0.bitPattern) }
        #expect(Self.run(.f16, f16, count: halves.count) == halves.map { Float($0) })
        let subnormal = Self.run(.f16, bytes(of: UInt16(0x0001)), count: 1)
        #expect(subnormal == [Float(bitPattern: 0x3380_0000)])  // 2^-24

        let floats: [Float] = [1, -0.1, 3e38, .leastNonzeroMagnitude]
        #expect(Self.run(.f32, floats.flatMap { bytes(of: $0) }, count: floats.count) == floats)

        let bf16 = floats.flatMap { bytes(of: UInt16($0.bitPattern >> 16)) }
        #expect(
            Self.run(.bf16, bf16, count: floats.count) == floats.map { Float(bitPattern: $0.bitPattern & 0xFFFF_0000) })
    }

    @Test func oddlyAlignedF32DataIsCopied() {
        // F32 data at an odd address (a file with general.alignment = 1).
        let floats: [Float] = [1, 2, 3]
        let data: [UInt8] = [0x55] + floats.flatMap { bytes(of: $0) }
        var out = [Float](repeating: 0, count: 3)
        data.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer {
                GGUFDequantizer.dequantize(.f32, from: src.baseAddress! + 1, into: $0.baseAddress!, count: 3)
            }
        }
        #expect(out == floats)
    }
}

// MARK: - Seeded blocks against the reference formulas

extension GGUFDequantizerTests {
    @Test func quantisedTypesMatchTheReferenceFormulas() {
        var rng = TestRandom(seed: 42)
        let blockCount = 64
        var q8: [UInt8] = []
        var q40: [UInt8] = []
        var q41: [UInt8] = []
        var expected8: [Float] = []
        var expected40: [Float] = []
        var expected41: [Float] = []
        for _ in 0..<blockCount {
            let d = Self.randomHalf(&rng, scale: 0.05)
            let m = Self.randomHalf(&rng, scale: 0.5)
            let signed = (0..<32).map { _ in Int8(truncatingIfNeeded: rng.next()) }
            let nibbles = Self.randomNibbles(&rng)
            q8 += GGMLBlock.q8_0(d: d, signed)
            q40 += GGMLBlock.q4_0(d: d, nibbles)
            q41 += GGMLBlock.q4_1(d: d, m: m, nibbles)
            // ggml: y = q·d (Q8_0), (q − 8)·d (Q4_0), q·d + m (Q4_1), rounding after each operation.
            expected8 += signed.map { Float($0) * Float(d) }
            expected40 += nibbles.map { (Float($0) - 8) * Float(d) }
            expected41 += nibbles.map { Float($0) * Float(d) + Float(m) }
        }
        #expect(Self.run(.q8_0, q8, count: 32 * blockCount) == expected8)
        #expect(Self.run(.q4_0, q40, count: 32 * blockCount) == expected40)
        #expect(Self.run(.q4_1, q41, count: 32 * blockCount) == expected41)
    }

    @Test func loadTensorDequantisesEveryType() throws {
        // The same 2×64 matrix stored as each supported type, through a file.
        var rng = TestRandom(seed: 3)
        let d = Self.randomHalf(&rng, scale: 0.1)
        let m = Self.randomHalf(&rng, scale: 0.1)
        let nibbles = (0..<4).map { _ in Self.randomNibbles(&rng) }
        let q41 = nibbles.flatMap { GGMLBlock.q4_1(d: d, m: m, $0) }
        let expected = nibbles.flatMap { $0.map { Float($0) * Float(d) + Float(m) } }
        var b = GGUFBuilder()
        b.addRaw("q4_1", shape: [2, 64], type: .q4_1, data: q41)
        b.addF32("f32", shape: [2, 64], values: expected)
        b.addRaw("f16", shape: [2, 64], type: .f16, data: expected.flatMap { bytes(of: Float16($0).bitPattern) })
        let file = try GGUFFileTests.open(b)
        for name in ["q4_1", "f32"] {
            let t = try file.loadTensor(try #require(file.tensor(named: name)))
            #expect(t.shape == [2, 64] && t.toArray() == expected, "\(name)")
        }
        let half = try file.loadTensor(try #require(file.tensor(named: "f16")))
        #expect(half.toArray() == expected.map { Float(Float16($0)) })
    }
}
