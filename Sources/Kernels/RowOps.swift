// Swift entry points to the streaming kernels (CKernels/streaming.c): re-rotating keys from their pre-RoPE copy,
// gathering and scattering rows (STC-Cacher's partial updates), per-row cosines and mean rows.
// Shape legend: R rows, W row width, Hd head dim.

import CKernels

/// Row-wise operations on f32 matrices given by pointer and row stride (in floats).
public enum RowOps {
    /// dst[i] = src[rows[i]] for the `rows.count` indices (rows of `width` floats).
    public static func gather(
        _ src: UnsafePointer<Float>, stride srcStride: Int, rows: UnsafeBufferPointer<Int32>, width: Int,
        into dst: UnsafeMutablePointer<Float>, stride dstStride: Int
    ) {
        guard let base = rows.baseAddress else { return }
        vk_gather_rows(src, srcStride, base, rows.count, width, dst, dstStride)
    }

    /// dst[rows[i]] = src[i].
    public static func scatter(
        _ src: UnsafePointer<Float>, stride srcStride: Int, rows: UnsafeBufferPointer<Int32>, width: Int,
        into dst: UnsafeMutablePointer<Float>, stride dstStride: Int
    ) {
        guard let base = rows.baseAddress else { return }
        vk_scatter_rows(src, srcStride, base, rows.count, width, dst, dstStride)
    }

    /// out[r] = cos(a[r], b[r]) over `width` values, for `rows` rows (1 when both rows are zero).
    public static func cosines(
        _ a: UnsafePointer<Float>, stride aStride: Int, _ b: UnsafePointer<Float>, stride bStride: Int, rows: Int,
        width: Int, into out: UnsafeMutablePointer<Float>
    ) {
        vk_row_cosines(a, aStride, b, bStride, rows, width, out)
    }

    /// out[r] = cos(a[r], v) for `rows` rows of `width` values (0 for a zero row or vector).
    public static func cosines(
        _ a: UnsafePointer<Float>, stride: Int, rows: Int, to v: UnsafePointer<Float>, width: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        vk_cosines_to(a, stride, rows, v, width, out)
    }

    /// out[width] = the mean of `rows` rows (zeros for no rows).
    public static func mean(
        _ x: UnsafePointer<Float>, stride: Int, rows: Int, width: Int, into out: UnsafeMutablePointer<Float>
    ) {
        vk_mean_rows(x, stride, rows, width, out)
    }

    /// The mean of `rows` bf16 rows, widened.
    public static func meanBF16(
        _ x: UnsafePointer<UInt16>, stride: Int, rows: Int, width: Int, into out: UnsafeMutablePointer<Float>
    ) {
        vk_mean_rows_bf16(x, stride, rows, width, out)
    }

    /// out[r] = mean |a[r] − b[r]| over `width` values of contiguous rows.
    public static func meanAbsoluteDifferences(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, width: Int, into out: UnsafeMutablePointer<Float>
    ) {
        vk_row_mean_abs_diff(a, b, rows, width, out)
    }

    /// Scratch bytes `select` needs for `count` values.
    public static func selectScratchBytes(count: Int) -> Int { vk_select_k_scratch_bytes(count) }

    /// Writes to `out` the indices of the `k` smallest (or largest) of `values[0..<count]`, ascending (raster order).
    /// Ties go to the lower index. `scratch` holds `selectScratchBytes(count)` bytes.
    public static func select(
        _ k: Int, of values: UnsafePointer<Float>, count: Int, largest: Bool, scratch: UnsafeMutableRawPointer,
        into out: UnsafeMutablePointer<Int32>
    ) {
        precondition(k >= 0 && k <= count, "select: k = \(k) of \(count)")
        vk_select_k(values, count, k, largest ? 1 : 0, scratch, out)
    }

    /// −log softmax(logits)[target] (natural log), computed in double precision.
    public static func negativeLogLikelihood(_ logits: UnsafePointer<Float>, vocabulary: Int, target: Int) -> Double {
        precondition(target >= 0 && target < vocabulary, "nll: target \(target) outside the vocabulary")
        return vk_nll(logits, vocabulary, target)
    }

    /// Mean absolute difference of two byte arrays (pixel change between frames).
    public static func meanAbsoluteDifference(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, count: Int) -> Float {
        vk_mean_abs_diff_u8(a, b, count)
    }
}

extension RotaryEmbedding {
    /// Scratch floats `store` needs.
    public static func storeScratchFloats(headDim: Int) -> Int { vk_rope_store_scratch_floats(headDim) }

    /// dst[r] = RoPE(raw[r]) at `positions[r]` for `rows` contiguous rows of Hd floats, stored as f32 or bf16.
    /// Bit-identical to `apply` on the same values.
    public func store(
        _ raw: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, bf16: Bool, rows: Int,
        positions: UnsafePointer<Int32>, scratch: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            precondition(positions[r] >= 0 && Int(positions[r]) < maxPositions, "rope: position out of table")
        }
        vk_rope_store(raw, dst, bf16 ? 1 : 0, rows, headDim, positions, cosTable.floats, sinTable.floats, scratch)
    }
}
