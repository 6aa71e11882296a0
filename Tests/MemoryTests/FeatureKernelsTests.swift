// The feature memory's C kernels against naive Swift twins: fp16 conversion (every half value, rounding ties,
// subnormals, saturation) against Swift's Float16, the 2×2 key pooling with ragged edges, the mean token,
// reductions, and CRC-32C's check value.

import Foundation
import Testing

@testable import Memory

@Suite struct FeatureKernelsTests {}

extension FeatureKernelsTests {
    @Test func everyHalfWidensExactlyAndNarrowsBack() {
        let halves = (0...UInt16.max).map { $0 }
        var floats = [Float](repeating: 0, count: halves.count)
        halves.withUnsafeBufferPointer { h in floats.withUnsafeMutableBufferPointer { FeatureMath.floats(h, into: $0) }
        }
        var back = [UInt16](repeating: 0, count: halves.count)
        floats.withUnsafeBufferPointer { f in back.withUnsafeMutableBufferPointer { FeatureMath.halves(f, into: $0) } }
        for bits in halves {
            let expected = Float(Float16(bitPattern: bits))
            let got = floats[Int(bits)]
            if expected.isNaN {
                #expect(got.isNaN)
                #expect(back[Int(bits)] & 0x7C00 == 0x7C00 && back[Int(bits)] & 0x3FF != 0)
            } else if expected.isInfinite {
                #expect(got == expected)
                // Infinities saturate to the largest finite half.
                #expect(back[Int(bits)] == (expected > 0 ? 0x7BFF : 0xFBFF))
            } else {
                #expect(got.bitPattern == expected.bitPattern, "half \(bits)")
                #expect(back[Int(bits)] == bits, "half \(bits) does not come back")
            }
        }
    }

    @Test func narrowingRoundsToNearestEvenLikeSwiftAndSaturates() {
        var random = TestRandom(seed: 7)
        var values: [Float] = [
            0, -0, 1, 65504, 65519, 65520, 1e6, -1e6, .greatestFiniteMagnitude, 6.1e-5, 5.96e-8,
            2.98e-8, 2.99e-8, 1e-10, -3.0e-7, 0.1, 1.0 / 3.0,
        ]
        values += (0..<20_000).map { _ in Float(random.normal() * pow(10, random.uniform() * 12 - 8)) }
        // Exact ties between two halves: the midpoint of every 64th pair of neighbours.
        values += stride(from: 0, to: 0x7BFF, by: 64).map { bits -> Float in
            let low = Float(Float16(bitPattern: UInt16(bits)))
            let high = Float(Float16(bitPattern: UInt16(bits + 1)))
            return (low + high) / 2
        }
        for count in [values.count, 7, 1] {  // the vector path and its scalar tail
            let slice = Array(values.prefix(count))
            var out = [UInt16](repeating: 0, count: slice.count)
            slice.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { FeatureMath.halves(s, into: $0) }
            }
            for (value, bits) in zip(slice, out) {
                let expected = Float16(min(max(value, -65504), 65504))
                #expect(bits == expected.bitPattern, "\(value)")
            }
        }
    }

    @Test func keyPoolingAveragesTwoByTwoWindowsWithRaggedEdges() throws {
        var random = TestRandom(seed: 3)
        for side in 1...5 {
            for hidden in [1, 3, 17] {
                let geometry = try FeatureGeometry(tokenCount: side * side, hiddenSize: hidden)
                let tokens = random.normals(geometry.frameValueCount)
                let features = FrameFeatures(tokens: tokens, geometry: geometry)
                let keySide = (side + 1) / 2
                #expect(geometry.keyGridSide == keySide && features.key.count == keySide * keySide * hidden)
                for kr in 0..<keySide {
                    for kc in 0..<keySide {
                        for h in 0..<hidden {
                            var sum: Float = 0
                            var count: Float = 0
                            for r in (2 * kr)..<min(2 * kr + 2, side) {
                                for c in (2 * kc)..<min(2 * kc + 2, side) {
                                    sum += tokens[(r * side + c) * hidden + h]
                                    count += 1
                                }
                            }
                            #expect(features.key[(kr * keySide + kc) * hidden + h] == sum / count)
                        }
                    }
                }
                for h in 0..<hidden {
                    var sum: Float = 0
                    for t in 0..<geometry.tokenCount { sum += tokens[t * hidden + h] }
                    #expect(features.globalKey[h] == sum / Float(geometry.tokenCount))
                }
            }
        }
    }

    @Test func geometryRejectsNonSquareGrids() throws {
        #expect(throws: MemoryError.self) { try FeatureGeometry(tokenCount: 6, hiddenSize: 4) }
        #expect(throws: MemoryError.self) { try FeatureGeometry(tokenCount: 4, hiddenSize: 0) }
        let g = FeatureGeometry.smolVLM2_256M
        #expect(g.gridSide == 8 && g.keyTokenCount == 16 && g.keyValueCount == 16 * 576)
        #expect(try FeatureGeometry(tokenCount: 9, hiddenSize: 2).keyTokenCount == 4)
    }

    @Test func reductionsMatchNaiveSums() {
        var random = TestRandom(seed: 11)
        for n in [1, 15, 16, 17, 100, 9216] {
            let a = random.normals(n)
            let b = random.normals(n)
            var dot = 0.0
            var distance = 0.0
            for i in 0..<n {
                dot += Double(a[i]) * Double(b[i])
                distance += Double(a[i] - b[i]) * Double(a[i] - b[i])
            }
            #expect(abs(Double(FeatureMath.dot(a, b)) - dot) <= 1e-5 * max(1, abs(dot)))
            #expect(abs(Double(FeatureMath.squaredDistance(a, b)) - distance) <= 1e-5 * max(1, distance))
        }
    }

    @Test func theFusedHalfDistanceHasTheBitsOfWideningFirst() {
        var random = TestRandom(seed: 13)
        for n in [1, 15, 16, 17, 100, 9216] {
            let halves = random.normals(n, scale: 3).map { Float16($0).bitPattern }
            let widened = halves.map { Float(Float16(bitPattern: $0)) }
            let b = random.normals(n)
            let fused = halves.withUnsafeBufferPointer { h in
                b.withUnsafeBufferPointer { FeatureMath.squaredDistance(halves: h, $0) }
            }
            #expect(fused.bitPattern == FeatureMath.squaredDistance(widened, b).bitPattern, "n = \(n)")
        }
    }

    @Test func crc32cHasItsCheckValue() {
        let bytes = Array("123456789".utf8)
        #expect(bytes.withUnsafeBytes { FeatureMath.crc32c($0) } == 0xE306_9283)
        let long = (0..<1000).map { UInt8($0 % 251) }
        let whole = long.withUnsafeBytes { FeatureMath.crc32c($0) }
        let split = long.withUnsafeBytes { raw in
            FeatureMath.crc32c(
                UnsafeRawBufferPointer(rebasing: raw[500...]),
                continuing: FeatureMath.crc32c(UnsafeRawBufferPointer(rebasing: raw[..<500])))
        }
        #expect(whole == split)
    }
}
