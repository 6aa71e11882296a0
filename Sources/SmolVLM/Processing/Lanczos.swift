// LANCZOS (a = 3) resampling of 8-bit RGB, bit-exact with Pillow 13.0.0 `Image.resize(size, Image.LANCZOS)`, and
// with torch's uint8 antialiased LANCZOS (`torch.nn.functional.interpolate(mode="lanczos", antialias=True)`, the
// kernel torchvision ≥ 0.27 uses for uint8 tensors on CPU).
//
// Implements the algorithm of Pillow 13.0.0's `src/libImaging/Resample.c` for 8-bit images (written anew from its
// description, not copied):
// - Separable, two passes through an 8-bit intermediate image: horizontal first (only over the source rows the
//   vertical pass will read), then vertical — except when the height shrinks by more than twice as many pixels as
//   the width, where Pillow 13 runs the vertical pass first. A pass whose size does not change is skipped; if neither
//   changes, the image is copied.
// - Per output sample, the filter is centred at `(i + 0.5) · scale` (scale = in/out) with support 3 · max(scale, 1),
//   so down-scaling widens the kernel (antialiasing). Taps cover `[int(center − support + 0.5),
//   int(center + support + 0.5))`, clipped to the image; weights are `lanczos((j − center + 0.5) / max(scale, 1))`
//   in double precision, divided by their sum.
// - Weights become fixed point with 22 fractional bits (PRECISION_BITS = 32 − 8 − 2), rounded half away from zero.
//   Each output is `(2^21 + Σ pixel · weight) >> 22` in 32-bit integers, clipped to 0…255.
//
// The torch variant (ATen's AVX2 uint8 antialias kernel, checked bit for bit against torch 2.13 on CPU) computes the
// same double-precision weights but (a) always runs the horizontal pass first and (b) scales the weights of each axis
// to int16 range: the fraction bits are the largest p ≤ 22 with round(max_weight · 2^p) < 2^15, and each output is
// `(2^(p−1) + Σ pixel · weight) >> p`, clipped. The coarser weights round differently from Pillow's, so results
// differ by ±1 on some pixels, and by more on noisy content where the pass order changes what gets clipped.
//
// `sin` is the platform libm's, the same one Pillow's wheel and torch call, so the double-precision weights agree.
//
// Performance: coefficients are computed once per pass; both passes accumulate whole lines in an Int32 buffer
// (vectorised by the compiler), the horizontal one on transposed blocks of rows; rows are split across cores for
// large images. Nothing is allocated per pixel.

import Dispatch
import Foundation
import VigilCore

/// Exact LANCZOS resizing of `RGBImage`s, with Pillow's or torch's fixed-point arithmetic.
public enum Lanczos {
    /// Whose integer arithmetic to reproduce.
    public enum Arithmetic: Sendable, Equatable {
        /// Pillow 13.0.0 `Image.resize(…, LANCZOS)`: SmolVLM's image processor (`SmolVLMImageProcessorPil`).
        case pillow
        /// torch's uint8 `interpolate(mode="lanczos", antialias=True)`: what transformers' torchvision-backed
        /// processors, including `SmolVLMVideoProcessor`, run on CPU.
        case torch
    }

    /// Fractional bits of Pillow's fixed-point weights (`PRECISION_BITS`).
    static let pillowPrecisionBits: Int32 = 32 - 8 - 2

    /// `image` resized to `width × height` with the LANCZOS filter (antialiased when shrinking), bit-exact with
    /// `arithmetic`'s implementation.
    public static func resize(
        _ image: RGBImage, width: Int, height: Int, arithmetic: Arithmetic = .pillow
    ) -> RGBImage {
        precondition(width > 0 && height > 0, "Lanczos.resize to \(width)×\(height): sizes must be positive")
        let needHorizontal = width != image.width
        let needVertical = height != image.height
        if !needHorizontal && !needVertical { return image }

        if !isHorizontalFirst(from: image, width: width, height: height, arithmetic: arithmetic) {
            // Shrink the rows first so the horizontal pass has fewer of them.
            let vertical = Kernel(inSize: image.height, outSize: height, arithmetic: arithmetic)
            let shrunk = resampleVertical(image, rowOffset: 0, kernel: vertical)
            guard needHorizontal else { return shrunk }
            let horizontal = Kernel(inSize: image.width, outSize: width, arithmetic: arithmetic)
            return resampleHorizontal(shrunk, rows: 0..<height, kernel: horizontal)
        }

        var current = image
        var rowOffset = 0
        let vertical = Kernel(inSize: image.height, outSize: height, arithmetic: arithmetic)
        if needHorizontal {
            // Only rows [firstRow, lastRow) of the source feed the vertical pass (a saving, not a change of result).
            let firstRow = needVertical ? vertical.starts[0] : 0
            let lastRow = needVertical ? vertical.starts[height - 1] + vertical.counts[height - 1] : image.height
            let horizontal = Kernel(inSize: image.width, outSize: width, arithmetic: arithmetic)
            current = resampleHorizontal(image, rows: firstRow..<lastRow, kernel: horizontal)
            rowOffset = firstRow
        }
        if needVertical {
            current = resampleVertical(current, rowOffset: rowOffset, kernel: vertical)
        }
        return current
    }

    /// Pass order. Pillow 13 runs the vertical pass first only when the height shrinks by more than twice as many
    /// pixels as the width does (`ImagingResampleInner`); torch always starts with the horizontal pass. The order
    /// matters: the 8-bit intermediate is rounded and clipped.
    static func isHorizontalFirst(from image: RGBImage, width: Int, height: Int, arithmetic: Arithmetic = .pillow)
        -> Bool
    {
        if arithmetic == .torch { return true }
        let heightLoss = image.height - height
        let widthLoss = image.width - width
        return !(heightLoss > 0 && heightLoss > widthLoss * 2)
    }

    // MARK: - Coefficients

    /// Fixed-point filter taps for one axis: for output sample `i`, `counts[i]` weights starting at source index
    /// `starts[i]`, stored at `weights[i * size ..< i * size + counts[i]]`, with `precision` fraction bits.
    struct Kernel: Sendable {
        /// Stride between the weight rows of consecutive outputs (Pillow's `ksize`).
        let size: Int
        /// First source index of each output's window.
        let starts: [Int]
        /// Number of source samples in each output's window.
        let counts: [Int]
        /// Weights scaled by 2^precision and rounded half away from zero.
        let weights: [Int32]
        /// Fraction bits of `weights`.
        let precision: Int32

        /// Pillow's `precompute_coeffs` for the box `[0, inSize)` mapped onto `outSize`, then the fixed-point
        /// conversion of `arithmetic` (Pillow's `normalize_coeffs_8bpc`, or torch's int16 scaling).
        init(inSize: Int, outSize: Int, arithmetic: Arithmetic = .pillow) {
            // Pillow passes the box edges as floats and subtracts them in float; exact for any real image size.
            let scale = Double(Float(inSize) - Float(0)) / Double(outSize)
            let filterScale = max(scale, 1.0)
            let support = 3.0 * filterScale
            let size = Int(support.rounded(.up)) * 2 + 1
            let inverse = 1.0 / filterScale
            var starts = [Int](repeating: 0, count: outSize)
            var counts = [Int](repeating: 0, count: outSize)
            var exact = [Double](repeating: 0, count: outSize * size)
            var largest = 0.0
            for i in 0..<outSize {
                let center = (Double(i) + 0.5) * scale
                // C's (int) cast truncates toward zero; Swift's Int(_:) does the same.
                let start = max(Int(center - support + 0.5), 0)
                let count = min(Int(center + support + 0.5), inSize) - start
                var total = 0.0
                for j in 0..<count {
                    let w = Lanczos.filter((Double(j + start) - center + 0.5) * inverse)
                    exact[i * size + j] = w
                    total += w
                }
                for j in 0..<count {
                    if total != 0 { exact[i * size + j] /= total }
                    largest = max(largest, exact[i * size + j])
                }
                starts[i] = start
                counts[i] = count
            }
            let precision = arithmetic == .pillow ? Lanczos.pillowPrecisionBits : Self.int16Precision(largest)
            let one = Double(1 << precision)
            var weights = [Int32](repeating: 0, count: outSize * size)
            for i in 0..<outSize {
                for j in 0..<counts[i] {
                    let w = exact[i * size + j]
                    weights[i * size + j] = Int32(w < 0 ? -0.5 + w * one : 0.5 + w * one)
                }
            }
            self.size = size
            self.starts = starts
            self.counts = counts
            self.weights = weights
            self.precision = precision
        }

        /// torch's fraction bits for int16 weights: the largest p ≤ 22 with round(largest · 2^p) < 2^15.
        static func int16Precision(_ largest: Double) -> Int32 {
            var p: Int32 = 0
            while p < 22 {
                if Int(0.5 + largest * Double(1 << (p + 1))) >= 1 << 15 { break }
                p += 1
            }
            return p
        }
    }

    /// Pillow's `lanczos_filter`: sinc(x) · sinc(x / 3) on [−3, 3), else 0.
    @inline(__always)
    static func filter(_ x: Double) -> Double {
        if -3.0 <= x && x < 3.0 { return sinc(x) * sinc(x / 3) }
        return 0
    }

    /// sin(πx) / (πx), with sinc(0) = 1.
    @inline(__always)
    static func sinc(_ x: Double) -> Double {
        if x == 0 { return 1 }
        let px = x * Double.pi
        return sin(px) / px
    }

    /// Rounds a fixed-point accumulator to a byte: `acc >> precision` clipped to 0…255.
    @inline(__always)
    static func clip(_ acc: Int32, _ precision: Int32) -> UInt8 {
        let v = acc >> precision
        return v < 0 ? 0 : (v > 255 ? 255 : UInt8(truncatingIfNeeded: v))
    }

    // MARK: - Passes

    /// A raw pointer handed to the row workers; each worker touches only its own rows.
    struct SharedPointer<T>: @unchecked Sendable {
        let base: UnsafeMutablePointer<T>
    }

    /// Set (`Lanczos.$runsSerially.withValue(true) { … }`) where resizing runs beside model compute, so GCD's worker
    /// threads never compete with the OpenMP threads of the model (the live session's frame preparation).
    @TaskLocal public static var runsSerially = false

    /// Runs `body` over `count` rows, split into chunks on all cores when the work is large enough to pay for it.
    private static func forEachChunk(rows count: Int, work: Int, _ body: @Sendable (Range<Int>) -> Void) {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let chunks = work < 2_000_000 || runsSerially ? 1 : min(cores, max(1, count / 16))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lower = count * c / chunks
            let upper = count * (c + 1) / chunks
            if lower < upper { body(lower..<upper) }
        }
    }

    /// Rows transposed together by the horizontal pass; 32 rows × 3 channels of Int32 accumulators fit in L1.
    static let horizontalBlockRows = 32

    /// Resamples each row of `rows` to `kernel.counts.count` pixels (Pillow's `ImagingResampleHorizontal_8bpc`).
    ///
    /// Same sums as Pillow, computed in another order for speed: a block of rows is transposed so that each source
    /// column becomes contiguous (`columns[x][r·3 + c]`); an output column is then a weighted sum of whole source
    /// columns, accumulated like the vertical pass, and written back transposed.
    static func resampleHorizontal(_ image: RGBImage, rows: Range<Int>, kernel: Kernel) -> RGBImage {
        let outWidth = kernel.counts.count
        let inWidth = image.width
        let inRowBytes = inWidth * 3
        let outRowBytes = outWidth * 3
        var out = [UInt8](repeating: 0, count: rows.count * outRowBytes)
        let kernelSize = kernel.size
        let precision = kernel.precision
        let firstRow = rows.lowerBound
        let blockRows = horizontalBlockRows
        let blockCount = (rows.count + blockRows - 1) / blockRows
        image.pixels.withUnsafeBufferPointer { srcBuffer in
            out.withUnsafeMutableBufferPointer { dstBuffer in
                let src = SharedPointer(base: UnsafeMutablePointer(mutating: srcBuffer.baseAddress!))
                let dst = SharedPointer(base: dstBuffer.baseAddress!)
                forEachChunk(rows: blockCount, work: rows.count * outWidth * kernelSize) { blocks in
                    let stride = blockRows * 3
                    let columns = UnsafeMutablePointer<UInt8>.allocate(capacity: inWidth * stride)
                    let acc = UnsafeMutablePointer<Int32>.allocate(capacity: stride)
                    defer {
                        columns.deallocate()
                        acc.deallocate()
                    }
                    kernel.weights.withUnsafeBufferPointer { weightBuffer in
                        kernel.starts.withUnsafeBufferPointer { starts in
                            kernel.counts.withUnsafeBufferPointer { counts in
                                for block in blocks {
                                    let r0 = block * blockRows
                                    let n = min(blockRows, rows.count - r0)
                                    transposeRows(
                                        from: src.base + (firstRow + r0) * inRowBytes, rowBytes: inRowBytes,
                                        rows: n, width: inWidth, into: columns, stride: stride)
                                    for x in 0..<outWidth {
                                        accumulate(
                                            columns + starts[x] * stride, stride: stride, length: n * 3,
                                            weights: weightBuffer.baseAddress! + x * kernelSize, count: counts[x],
                                            precision: precision, into: acc)
                                        var o = dst.base + r0 * outRowBytes + x * 3
                                        for r in 0..<n {
                                            o[0] = clip(acc[r * 3], precision)
                                            o[1] = clip(acc[r * 3 + 1], precision)
                                            o[2] = clip(acc[r * 3 + 2], precision)
                                            o += outRowBytes
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return RGBImage(width: outWidth, height: rows.count, pixels: out)
    }

    /// Copies `rows` packed RGB rows into column order: pixel (x, r) goes to `columns[x · stride + r · 3 ..< +3]`.
    @inline(__always)
    private static func transposeRows(
        from src: UnsafeMutablePointer<UInt8>, rowBytes: Int, rows: Int, width: Int,
        into columns: UnsafeMutablePointer<UInt8>, stride: Int
    ) {
        for r in 0..<rows {
            var p = src + r * rowBytes
            var q = columns + r * 3
            for _ in 0..<width {
                q[0] = p[0]
                q[1] = p[1]
                q[2] = p[2]
                p += 3
                q += stride
            }
        }
    }

    /// `acc[i] = 2^(precision−1) + Σ_t weights[t] · lines[t · stride + i]` for `i < length`: one weighted sum of
    /// `count` byte lines, vectorised over `i`.
    @inline(__always)
    private static func accumulate(
        _ lines: UnsafeMutablePointer<UInt8>, stride: Int, length: Int, weights: UnsafePointer<Int32>, count: Int,
        precision: Int32, into acc: UnsafeMutablePointer<Int32>
    ) {
        acc.initialize(repeating: 1 << (precision - 1), count: length)
        for t in 0..<count {
            let w = weights[t]
            let line = lines + t * stride
            for i in 0..<length {
                acc[i] &+= Int32(line[i]) &* w
            }
        }
    }

    /// Resamples columns to `kernel.counts.count` rows (Pillow's `ImagingResampleVertical_8bpc`); `rowOffset` is the
    /// source row that `image`'s first row stands for (the horizontal pass may have skipped unused rows).
    static func resampleVertical(_ image: RGBImage, rowOffset: Int, kernel: Kernel) -> RGBImage {
        let outHeight = kernel.counts.count
        let rowBytes = image.width * 3
        var out = [UInt8](repeating: 0, count: outHeight * rowBytes)
        let kernelSize = kernel.size
        let precision = kernel.precision
        image.pixels.withUnsafeBufferPointer { srcBuffer in
            out.withUnsafeMutableBufferPointer { dstBuffer in
                let src = SharedPointer(base: UnsafeMutablePointer(mutating: srcBuffer.baseAddress!))
                let dst = SharedPointer(base: dstBuffer.baseAddress!)
                forEachChunk(rows: outHeight, work: outHeight * rowBytes * kernelSize / 3) { chunk in
                    let acc = UnsafeMutablePointer<Int32>.allocate(capacity: rowBytes)
                    defer { acc.deallocate() }
                    kernel.weights.withUnsafeBufferPointer { weightBuffer in
                        let weights = weightBuffer.baseAddress!
                        for y in chunk {
                            accumulate(
                                src.base + (kernel.starts[y] - rowOffset) * rowBytes, stride: rowBytes,
                                length: rowBytes, weights: weights + y * kernelSize, count: kernel.counts[y],
                                precision: precision, into: acc)
                            let o = dst.base + y * rowBytes
                            for i in 0..<rowBytes {
                                o[i] = clip(acc[i], precision)
                            }
                        }
                    }
                }
            }
        }
        return RGBImage(width: image.width, height: outHeight, pixels: out)
    }
}
