// Lanczos: bit-exact with Pillow 13.0.0 (goldens), and equal to a naive restatement on many random sizes.

import Foundation
import Testing
import TestSupport
import VigilCore

@testable import SmolVLM

@Suite(.holdingSerialLock) struct LanczosTests {}

extension LanczosTests {
    @Test func matchesPillowOnEveryGoldenCase() throws {
        let goldens = try PreprocessGoldens.load()
        #expect(goldens.cases.lanczos.count > 50)
        for c in goldens.cases.lanczos {
            let out = Lanczos.resize(c.source.image, width: c.width, height: c.height)
            #expect(out.width == c.width && out.height == c.height, "\(c.name)")
            let problems = try compareBytes(out.pixels, with: c.checked, in: goldens)
            #expect(problems.isEmpty, "\(c.name): \(problems.joined(separator: "; "))")
        }
    }

    @Test func matchesTorchOnEveryGoldenCase() throws {
        let goldens = try PreprocessGoldens.load()
        #expect(goldens.cases.torchLanczos.count > 15)
        for c in goldens.cases.torchLanczos {
            let out = Lanczos.resize(c.source.image, width: c.width, height: c.height, arithmetic: .torch)
            let problems = try compareBytes(out.pixels, with: c.checked, in: goldens)
            #expect(problems.isEmpty, "\(c.name): \(problems.joined(separator: "; "))")
        }
    }

    @Test func matchesNaiveTwinOnRandomSizes() {
        var rng = TestRandom(seed: 7)
        for _ in 0..<60 {
            let w = Int(rng.next() % 40) + 1
            let h = Int(rng.next() % 40) + 1
            let tw = Int(rng.next() % 60) + 1
            let th = Int(rng.next() % 60) + 1
            let kind = ["noise", "edges", "gradient"][Int(rng.next() % 3)]
            let source = SourceImages.make(kind, width: w, height: h, seed: UInt32(truncatingIfNeeded: rng.next()))
            for arithmetic in [Lanczos.Arithmetic.pillow, .torch] {
                let fast = Lanczos.resize(source, width: tw, height: th, arithmetic: arithmetic)
                let naive = NaiveLanczos.resize(source, width: tw, height: th, arithmetic: arithmetic)
                #expect(fast == naive, "\(arithmetic) \(kind) \(w)×\(h) → \(tw)×\(th)")
            }
        }
    }

    @Test func sameSizeIsACopy() {
        let source = SourceImages.make("noise", width: 13, height: 9)
        #expect(Lanczos.resize(source, width: 13, height: 9) == source)
    }

    @Test func passOrderFollowsPillow13() {
        let square = RGBImage(width: 60, height: 60)
        // Vertical first only when the height loses more than twice the pixels the width loses.
        #expect(Lanczos.isHorizontalFirst(from: square, width: 40, height: 20))  // 40 > 2·20 is false
        #expect(!Lanczos.isHorizontalFirst(from: square, width: 41, height: 20))
        #expect(Lanczos.isHorizontalFirst(from: square, width: 60, height: 80))  // height grows
        #expect(!Lanczos.isHorizontalFirst(from: square, width: 130, height: 20))
        // torch always starts horizontally.
        #expect(Lanczos.isHorizontalFirst(from: square, width: 130, height: 20, arithmetic: .torch))
    }

    @Test func weightsAreNormalisedFixedPoint() {
        for (inSize, outSize) in [(10, 3), (3, 10), (1920, 512), (512, 2048), (1, 7), (7, 1)] {
            for arithmetic in [Lanczos.Arithmetic.pillow, .torch] {
                let kernel = Lanczos.Kernel(inSize: inSize, outSize: outSize, arithmetic: arithmetic)
                if arithmetic == .pillow { #expect(kernel.precision == 22) }
                if arithmetic == .torch { #expect(kernel.weights.allSatisfy { abs($0) < 1 << 15 }) }
                for i in 0..<outSize {
                    let row = kernel.weights[(i * kernel.size)..<(i * kernel.size + kernel.counts[i])]
                    let sum = row.reduce(0) { $0 + Int($1) }
                    // Each weight rounds by at most 1/2, so the sum stays within count/2 of 2^precision.
                    #expect(abs(sum - (1 << kernel.precision)) <= kernel.counts[i], "\(inSize)→\(outSize) \(i)")
                    #expect(kernel.starts[i] >= 0 && kernel.starts[i] + kernel.counts[i] <= inSize)
                }
            }
        }
    }
}


/// The naive twin of `Lanczos`: Pillow 13's and torch's algorithms written as plainly as possible (weights
/// recomputed for every output sample, one channel at a time, no row skipping).
enum NaiveLanczos {
    static func resize(
        _ image: RGBImage, width: Int, height: Int, arithmetic: Lanczos.Arithmetic = .pillow
    ) -> RGBImage {
        if width == image.width && height == image.height { return image }
        let heightLoss = image.height - height
        let verticalFirst = arithmetic == .pillow && heightLoss > 0 && heightLoss > (image.width - width) * 2
        let torch = arithmetic == .torch
        if verticalFirst {
            let v = height == image.height ? image : pass(image, outSize: height, horizontal: false, torch: torch)
            return width == image.width ? v : pass(v, outSize: width, horizontal: true, torch: torch)
        }
        let h = width == image.width ? image : pass(image, outSize: width, horizontal: true, torch: torch)
        return height == image.height ? h : pass(h, outSize: height, horizontal: false, torch: torch)
    }

    /// Normalised double weights and first index of output sample `i` along an axis of `inSize` samples.
    static func exactTaps(_ i: Int, inSize: Int, outSize: Int) -> (start: Int, weights: [Double]) {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = 3 * filterScale
        let center = (Double(i) + 0.5) * scale
        let start = max(Int(center - support + 0.5), 0)
        let end = min(Int(center + support + 0.5), inSize)
        var raw: [Double] = []
        for j in start..<end {
            let x = (Double(j) - center + 0.5) * (1 / filterScale)
            var w = 0.0
            if -3 <= x && x < 3 {
                let a = x == 0 ? 1 : sin(x * Double.pi) / (x * Double.pi)
                let b = x / 3 == 0 ? 1 : sin(x / 3 * Double.pi) / (x / 3 * Double.pi)
                w = a * b
            }
            raw.append(w)
        }
        let total = raw.reduce(0, +)
        return (start, raw.map { total != 0 ? $0 / total : $0 })
    }

    /// Fraction bits: Pillow's 22, or torch's largest p with round(max weight · 2^p) < 2^15 over the whole axis.
    static func precision(inSize: Int, outSize: Int, torch: Bool) -> Int {
        guard torch else { return 22 }
        let largest = (0..<outSize).flatMap { exactTaps($0, inSize: inSize, outSize: outSize).weights }.max() ?? 0
        var p = 0
        while p < 22 && Int(0.5 + largest * Double(1 << (p + 1))) < 1 << 15 { p += 1 }
        return p
    }

    /// Fixed-point weights of output sample `i`.
    static func taps(_ i: Int, inSize: Int, outSize: Int, precision: Int) -> (start: Int, weights: [Int32]) {
        let (start, exact) = exactTaps(i, inSize: inSize, outSize: outSize)
        let one = Double(1 << precision)
        return (start, exact.map { Int32($0 < 0 ? -0.5 + $0 * one : 0.5 + $0 * one) })
    }

    static func pass(_ image: RGBImage, outSize: Int, horizontal: Bool, torch: Bool) -> RGBImage {
        let outW = horizontal ? outSize : image.width
        let outH = horizontal ? image.height : outSize
        let inSize = horizontal ? image.width : image.height
        let bits = precision(inSize: inSize, outSize: outSize, torch: torch)
        var out = RGBImage(width: outW, height: outH)
        for y in 0..<outH {
            for x in 0..<outW {
                let (start, weights) = taps(horizontal ? x : y, inSize: inSize, outSize: outSize, precision: bits)
                for c in 0..<3 {
                    var acc = Int32(1 << (bits - 1))
                    for (t, w) in weights.enumerated() {
                        let sx = horizontal ? start + t : x
                        let sy = horizontal ? y : start + t
                        acc &+= Int32(image.pixels[(sy * image.width + sx) * 3 + c]) &* w
                    }
                    out.pixels[(y * outW + x) * 3 + c] = UInt8(min(max(acc >> Int32(bits), 0), 255))
                }
            }
        }
        return out
    }
}
