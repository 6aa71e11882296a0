// Swift side of the fused single-token decode step (CKernels' vk_decode_step): weights prepared once — fused
// q|k|v rows, gate/up rows interleaved in blocks of 16, stored as int8 with per-row scales, bf16 or f32 — and the
// per-stream state that points the C step at a KV cache.
//
// Shape legend: D hidden, H heads, Hkv KV heads, Hd head dim, I MLP width, V vocabulary, C cache slots.

import CKernels

/// Storage of decode matrices.
public enum DecodeWeightType: String, Sendable {
    case f32, bf16, int8

    var cType: Int32 {
        switch self {
        case .f32: return Int32(VK_WEIGHT_F32.rawValue)
        case .bf16: return Int32(VK_WEIGHT_BF16.rawValue)
        case .int8: return Int32(VK_WEIGHT_Q8.rawValue)
        }
    }
}

/// A [rows, cols] matrix stored for GEMV.
public struct DecodeMatrix: @unchecked Sendable {
    public let type: DecodeWeightType
    public let rows: Int
    public let cols: Int
    let data: Tensor
    let scales: Tensor?

    /// Converts f32 row blocks (stacked in order) into one matrix of `type`.
    public init(stacking parts: [Tensor], as type: DecodeWeightType) {
        let cols = parts[0].shape.last!
        let rows = parts.reduce(0) { $0 + $1.count / cols }
        self.type = type
        self.rows = rows
        self.cols = cols
        let f32 = parts.count == 1 && parts[0].dtype == .f32 ? parts[0] : Tensor(zeros: [rows, cols])
        if parts.count > 1 || parts[0].dtype != .f32 {
            var offset = 0
            for p in parts {
                let values = p.dtype == .f32 ? p : p.toF32()
                (f32.floats + offset).update(from: values.floats, count: values.count)
                offset += values.count
            }
        }
        switch type {
        case .f32:
            data = f32
            scales = nil
        case .bf16:
            data = Tensor(zeros: [rows, cols], dtype: .bf16)
            vk_f32_to_bf16(f32.floats, data.raw.assumingMemoryBound(to: UInt16.self), rows * cols)
            scales = nil
        case .int8:
            data = Tensor(zeros: [rows, cols], dtype: .i8)
            let s = Tensor(zeros: [rows])
            vk_quantize_rows_q8(f32.floats, rows, cols, data.raw.assumingMemoryBound(to: Int8.self), s.floats)
            scales = s
        }
    }

    var c: vk_matrix {
        vk_matrix(
            type: type.cType, rows: rows, cols: cols, data: UnsafeRawPointer(data.raw),
            scales: scales.map { UnsafePointer($0.floats) })
    }

    /// Bytes the matrix streams per GEMV.
    public var byteCount: Int { data.byteCount + (scales?.byteCount ?? 0) }

    /// y = W·x (+ y when accumulating), one call (tests).
    public func apply(_ x: Tensor, into y: Tensor, accumulate: Bool = false) {
        var m = c
        vk_gemv(&m, x.floats, y.floats, accumulate ? 1 : 0)
    }
}

/// Decoder weights prepared for the fused decode step; immutable and shared between streams.
public final class FusedDecodeWeights: @unchecked Sendable {
    /// One layer's prepared weights.
    public struct Layer: @unchecked Sendable {
        public let inputNorm, postNorm: Tensor
        public let qkv, o, gateUp, down: DecodeMatrix
    }

    public let layers: [Layer]
    public let finalNorm: Tensor
    public let lmHead: DecodeMatrix
    public let hidden, heads, kvHeads, headDim, intermediate, vocab: Int
    public let eps: Float
    let rope: RotaryEmbedding

    /// Whether the fused step supports these sizes (MLP width in blocks of 16, head dim within 128).
    public static func supports(intermediate: Int, headDim: Int) -> Bool {
        intermediate % 16 == 0 && headDim % 2 == 0 && headDim <= 128
    }

    /// Builds the prepared weights. `gate` and `up` are [I, D]; they are interleaved in blocks of 16 rows.
    public init(
        layers source: [(inputNorm: Tensor, postNorm: Tensor, q: Tensor, k: Tensor, v: Tensor, o: Tensor,
                         gate: Tensor, up: Tensor, down: Tensor)],
        finalNorm: Tensor, lmHead: Tensor, heads: Int, kvHeads: Int, headDim: Int, eps: Float,
        rope: RotaryEmbedding, type: DecodeWeightType
    ) {
        let d = finalNorm.count
        let i = source.first?.gate.shape[0] ?? 16
        precondition(Self.supports(intermediate: i, headDim: headDim), "fused decode: unsupported sizes")
        layers = source.map { s in
            var blocks: [Tensor] = []
            for b in 0..<(i / 16) {
                blocks.append(s.gate.rows(16 * b..<16 * b + 16))
                blocks.append(s.up.rows(16 * b..<16 * b + 16))
            }
            return Layer(
                inputNorm: s.inputNorm, postNorm: s.postNorm, qkv: DecodeMatrix(stacking: [s.q, s.k, s.v], as: type),
                o: DecodeMatrix(stacking: [s.o], as: type), gateUp: DecodeMatrix(stacking: blocks, as: type),
                down: DecodeMatrix(stacking: [s.down], as: type))
        }
        self.finalNorm = finalNorm
        self.lmHead = DecodeMatrix(stacking: [lmHead], as: type)
        hidden = d
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        intermediate = i
        vocab = lmHead.shape[0]
        self.eps = eps
        self.rope = rope
    }

    /// Bytes streamed per token by the matrices.
    public var byteCount: Int {
        layers.reduce(lmHead.byteCount) { $0 + $1.qkv.byteCount + $1.o.byteCount + $1.gateUp.byteCount + $1.down.byteCount }
    }
}

/// Per-stream state of the fused step: the C description pointing at this stream's KV cache, plus scratch.
public final class FusedDecodeState {
    public let weights: FusedDecodeWeights
    private let layerDescs: UnsafeMutablePointer<vk_decode_layer>
    private var decoder: vk_decoder
    private var scratch: Tensor
    /// Logits [V] of the last step.
    public let logits: Tensor

    /// Binds `weights` to per-layer key and value caches [Hkv, capacity, Hd] (f32, or bf16 on AVX-512 CPUs) and,
    /// for streaming caches, the f32 pre-RoPE key copies the step also writes.
    public init(
        weights: FusedDecodeWeights, keyCaches: [Tensor], valueCaches: [Tensor], preRoPEKeys: [Tensor]? = nil,
        capacity: Int
    ) {
        let kvBF16 = keyCaches.first?.dtype == .bf16
        precondition(!kvBF16 || vk_flash_supported(Int(weights.headDim)) != 0, "bf16 KV caches need AVX-512")
        self.weights = weights
        let n = weights.layers.count
        layerDescs = .allocate(capacity: max(1, n))
        for (l, layer) in weights.layers.enumerated() {
            layerDescs[l] = vk_decode_layer(
                input_norm: layer.inputNorm.floats, post_norm: layer.postNorm.floats, qkv: layer.qkv.c, o: layer.o.c,
                gate_up: layer.gateUp.c, down: layer.down.c, k_cache: keyCaches[l].raw, v_cache: valueCaches[l].raw,
                k_raw: preRoPEKeys?[l].floats)
        }
        decoder = vk_decoder(
            layers: n, hidden: weights.hidden, heads: weights.heads, kv_heads: weights.kvHeads,
            head_dim: weights.headDim, intermediate: weights.intermediate, vocab: weights.vocab, capacity: capacity,
            eps: weights.eps, kv_bf16: kvBF16 ? 1 : 0, layer: layerDescs, final_norm: weights.finalNorm.floats, lm_head: weights.lmHead.c,
            rope_cos: weights.rope.cosTable.floats, rope_sin: weights.rope.sinTable.floats)
        scratch = Tensor(zeros: [0])
        logits = Tensor(zeros: [weights.vocab])
        scratch = Tensor(zeros: [vk_decode_scratch_floats(&decoder)])
    }

    deinit { layerDescs.deallocate() }

    /// Runs one token: `x` [D] (overwritten) at RoPE `position`; its K/V go to cache slot `slot`, and attention
    /// covers slots 0 … slot. Returns the logits [V].
    public func step(_ x: Tensor, position: Int, slot: Int) -> Tensor {
        precondition(position >= 0 && position < weights.rope.maxPositions, "fused decode: position out of range")
        let needed = vk_decode_scratch_floats(&decoder)
        if scratch.count < needed { scratch = Tensor(zeros: [needed]) }
        vk_decode_step(&decoder, x.floats, Int32(position), slot, logits.floats, scratch.floats)
        return logits
    }
}
