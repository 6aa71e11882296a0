// Swift entry points to the C kernels (CKernels), checking shapes at the boundary. All f32.
// Shape legend: T tokens, D hidden, H heads, Hkv KV heads, Hd head dim.

import CKernels

/// Tensor operations; outputs are written into tensors the caller provides (and may alias inputs where noted).
public enum Ops {
    /// y[T, D] = LayerNorm(x[T, D]) · weight + bias. `y` may be `x`.
    public static func layerNorm(_ x: Tensor, weight: Tensor, bias: Tensor?, eps: Float, into y: Tensor) {
        let dim = weight.count
        precondition(x.count % dim == 0 && y.count == x.count, "layerNorm: \(x.shape) vs weight \(weight.shape)")
        vk_layer_norm(x.floats, weight.floats, bias?.floats, y.floats, x.count / dim, dim, eps)
    }

    /// y[T, D] = x · rsqrt(mean(x²) + eps) · weight. `y` may be `x`.
    public static func rmsNorm(_ x: Tensor, weight: Tensor, eps: Float, into y: Tensor) {
        let dim = weight.count
        precondition(x.count % dim == 0 && y.count == x.count, "rmsNorm: \(x.shape) vs weight \(weight.shape)")
        vk_rms_norm(x.floats, weight.floats, y.floats, x.count / dim, dim, eps)
    }

    /// x = gelu_tanh(x), in place.
    public static func geluTanh(_ x: Tensor) {
        vk_gelu_tanh(x.floats, x.count)
    }

    /// out[T, I] = silu(gate) ⊙ up, reading gate and up as the two halves of `gateUp` [T, 2I].
    public static func siluMul(gateUp: Tensor, into out: Tensor) {
        let width = out.shape.innermost
        let rows = out.count / width
        precondition(gateUp.count == rows * 2 * width, "siluMul: \(gateUp.shape) vs \(out.shape)")
        vk_silu_mul(gateUp.floats, gateUp.floats + width, 2 * width, out.floats, width, rows, width)
    }

    /// out = silu(gate) ⊙ up, elementwise over equal shapes.
    public static func siluMul(gate: Tensor, up: Tensor, into out: Tensor) {
        let width = out.shape.innermost
        precondition(gate.count == out.count && up.count == out.count, "siluMul: shapes differ")
        vk_silu_mul(gate.floats, up.floats, width, out.floats, width, out.count / width, width)
    }

    /// out = a + b. `out` may alias either input.
    public static func add(_ a: Tensor, _ b: Tensor, into out: Tensor) {
        precondition(a.count == b.count && a.count == out.count, "add: \(a.shape) + \(b.shape) -> \(out.shape)")
        vk_add(a.floats, b.floats, out.floats, a.count)
    }

    /// Softmax over the last dimension, in place.
    public static func softmax(_ x: Tensor) {
        let cols = x.shape.innermost
        vk_softmax_rows(x.floats, x.count / cols, cols)
    }

    /// The largest value's index (first on ties) and the runner-up's, over `count` values.
    public static func topTwo(_ x: UnsafePointer<Float>, count: Int) -> (best: Int, second: Int) {
        var second = 0
        let best = vk_top2(x, count, &second)
        return (best, second)
    }

    /// Unfolds pixels [C, H, W] into patches [P, C·p·p] (Conv2d-weight order).
    public static func patchify(_ pixels: Tensor, patchSize: Int, into out: Tensor) {
        precondition(pixels.shape.count == 3, "patchify: pixels must be [C, H, W], got \(pixels.shape)")
        let (c, h, w) = (pixels.shape[0], pixels.shape[1], pixels.shape[2])
        precondition(h % patchSize == 0 && w % patchSize == 0, "patchify: \(h)x\(w) not a multiple of \(patchSize)")
        precondition(out.count == (h / patchSize) * (w / patchSize) * c * patchSize * patchSize, "patchify: out size")
        vk_patchify(pixels.floats, c, h, w, patchSize, out.floats)
    }

    /// Pixel shuffle of a square grid x [G·G, D] by `scale` into [(G/s)², s²·D].
    public static func pixelShuffle(_ x: Tensor, scale: Int, into out: Tensor) {
        let dim = x.shape.innermost
        let tokens = x.count / dim
        var grid = 0
        while grid * grid < tokens { grid += 1 }
        precondition(grid * grid == tokens && grid % scale == 0, "pixelShuffle: \(tokens) tokens is not a grid of \(scale)")
        precondition(out.count == x.count, "pixelShuffle: output size")
        vk_pixel_shuffle(x.floats, grid, dim, scale, out.floats)
    }
}

/// Precomputed RoPE cos/sin tables [positions, Hd/2] (split-half layout, Hugging Face Llama arithmetic).
public struct RotaryEmbedding: Sendable {
    /// Rotated dimensions per head.
    public let headDim: Int
    /// Positions the tables cover.
    public let maxPositions: Int
    /// RoPE base θ.
    public let theta: Double
    let cosTable: Tensor
    let sinTable: Tensor

    /// Builds tables for positions 0 ..< `maxPositions`.
    public init(headDim: Int, theta: Double, maxPositions: Int) {
        precondition(headDim % 2 == 0, "RoPE head dim must be even")
        self.headDim = headDim
        self.maxPositions = maxPositions
        self.theta = theta
        cosTable = Tensor(zeros: [maxPositions, headDim / 2])
        sinTable = Tensor(zeros: [maxPositions, headDim / 2])
        vk_rope_tables(cosTable.floats, sinTable.floats, maxPositions, headDim, theta)
    }

    /// Rotates x [T, heads·Hd] in place, token t by `positions[t]`.
    public func apply(_ x: Tensor, heads: Int, positions: UnsafePointer<Int32>) {
        let rowWidth = heads * headDim
        precondition(x.count % rowWidth == 0, "rope: \(x.shape) is not [T, \(heads)·\(headDim)]")
        apply(x.floats, tokens: x.count / rowWidth, heads: heads, rowStride: rowWidth, positions: positions)
    }

    /// Rotates `heads` heads of `tokens` rows starting at `x`, rows `rowStride` floats apart.
    public func apply(
        _ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, rowStride: Int, positions: UnsafePointer<Int32>
    ) {
        for t in 0..<tokens {
            precondition(Int(positions[t]) < maxPositions && positions[t] >= 0, "rope: position out of table")
        }
        vk_rope(x, tokens, heads, headDim, rowStride, positions, cosTable.floats, sinTable.floats)
    }

    /// Rotates x [T, heads·Hd] in place, token t by `positions[t]`.
    public func apply(_ x: Tensor, heads: Int, positions: [Int32]) {
        positions.withUnsafeBufferPointer { apply(x, heads: heads, positions: $0.baseAddress!) }
    }
}

/// Keys or values laid out so element (head j, token t, d) is at `base + j·headStride + t·rowStride + d`, counted
/// in elements of `dtype` (f32 or bf16).
public struct HeadMajorView {
    public var base: UnsafeMutableRawPointer
    public var dtype: DType
    public var headStride: Int
    public var rowStride: Int

    public init(base: UnsafeMutableRawPointer, dtype: DType = .f32, headStride: Int, rowStride: Int) {
        precondition(dtype == .f32 || dtype == .bf16, "attention reads f32 or bf16 keys and values")
        self.base = base
        self.dtype = dtype
        self.headStride = headStride
        self.rowStride = rowStride
    }

    /// A token-major [T, H·Hd] f32 tensor seen per head.
    public init(tokenMajor t: Tensor, headDim: Int) {
        self.init(base: t.raw, headStride: headDim, rowStride: t.shape.innermost)
    }
}

/// Which attention implementation to run.
public enum AttentionKernel: Sendable {
    /// The tiled (flash) fp32 kernel where the CPU supports it, else the plain one.
    case automatic
    /// The plain row-by-row kernel (every CPU).
    case plain
    /// The flash kernel with bf16 dot products where the CPU has AVX-512 BF16, else `automatic` (bf16 precisions).
    case bf16
}

extension ComputeContext {
    /// Scaled dot-product attention, softmax in fp32.
    /// q [Tq, H·Hd] → out [Tq, H·Hd]; keys/values hold `keyCount` tokens of Hkv heads.
    /// `causalOffset` nil: bidirectional; otherwise query i sees keys 0 … i + causalOffset.
    public func attention(
        q: Tensor, keys: HeadMajorView, values: HeadMajorView, keyCount: Int, heads: Int, kvHeads: Int,
        headDim: Int, scale: Float, causalOffset: Int?, into out: Tensor, kernel: AttentionKernel = .automatic
    ) {
        precondition(out.count == q.count, "attention: out \(out.shape) vs q \(q.shape)")
        attention(
            queries: q.floats, queryCount: q.count / (heads * headDim), queryStride: heads * headDim, keys: keys,
            values: values, keyCount: keyCount, heads: heads, kvHeads: kvHeads, headDim: headDim, scale: scale,
            causalOffset: causalOffset, into: out, kernel: kernel)
    }

    /// Attention with queries at `queries`, `queryCount` rows `queryStride` floats apart (e.g. the q part of a fused
    /// q|k|v projection); out [Tq, H·Hd] contiguous.
    public func attention(
        queries: UnsafeMutablePointer<Float>, queryCount tq: Int, queryStride: Int, keys: HeadMajorView,
        values: HeadMajorView, keyCount: Int, heads: Int, kvHeads: Int, headDim: Int, scale: Float,
        causalOffset: Int?, into out: Tensor, kernel: AttentionKernel = .automatic
    ) {
        precondition(
            keys.headStride == values.headStride && keys.rowStride == values.rowStride && keys.dtype == values.dtype,
            "attention: K/V layout")
        precondition(keys.dtype == .f32 || vk_flash_supported(headDim) != 0, "attention: bf16 K/V need AVX-512")
        precondition(heads % kvHeads == 0, "attention: \(heads) heads not divisible by \(kvHeads) KV heads")
        precondition(out.count == tq * heads * headDim, "attention: out \(out.shape) is not [\(tq), \(heads * headDim)]")
        let threads = max(1, computeThreads)
        if kernel == .bf16 && vk_flash_bf16_supported(headDim) != 0 {
            let perThread = threads * vk_flash_bf16_scratch_floats(headDim)
            let scratch = scratchFloats(perThread + vk_flash_shared_floats(kvHeads, headDim, keyCount))
            vk_flash_attention_bf16(
                queries, queryStride, keys.base, values.base, keys.dtype == .bf16 ? 1 : 0, keys.headStride,
                keys.rowStride, out.floats, heads * headDim, tq, keyCount, heads, kvHeads, headDim, scale,
                causalOffset ?? -1, scratch, scratch + perThread)
        } else if kernel != .plain && vk_flash_supported(headDim) != 0 {
            let perThread = threads * vk_flash_scratch_floats(headDim)
            let scratch = scratchFloats(perThread + vk_flash_shared_floats(kvHeads, headDim, keyCount))
            vk_flash_attention(
                queries, queryStride, keys.base, values.base, keys.dtype == .bf16 ? 1 : 0, keys.headStride,
                keys.rowStride, out.floats,
                heads * headDim, tq, keyCount, heads, kvHeads, headDim, scale, causalOffset ?? -1, scratch,
                scratch + perThread)
        } else {
            let scratch = scratchFloats(threads * keyCount)
            vk_attention(
                queries, queryStride, keys.base.assumingMemoryBound(to: Float.self),
                values.base.assumingMemoryBound(to: Float.self), keys.headStride, keys.rowStride, out.floats,
                heads * headDim, tq, keyCount, heads, kvHeads, headDim, scale, causalOffset ?? -1, scratch)
        }
    }
}
