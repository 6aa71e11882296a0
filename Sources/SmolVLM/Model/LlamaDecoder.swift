// The SmolLM2 text decoder (port of transformers `LlamaModel` + `lm_head`, models/llama/modeling_llama.py).
// Reads text_config: vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
// num_key_value_heads, head_dim, rms_norm_eps, rope θ, max_position_embeddings, attention_bias, mlp_bias.
//
// Shape legend: T new tokens, D hidden, H query heads, Hkv KV heads, Hd head dim, I MLP width, V vocabulary.
//
//   per layer:  n = RMSNorm(x)            q = n·Wqᵀ [T, H·Hd], k, v = n·Wk/vᵀ [T, Hkv·Hd]
//               RoPE(q, k) at each token's position (split-half), k, v → KV cache
//               x += o_proj(causal GQA attention(q, cache))        (query head h reads KV head h / (H/Hkv))
//               n = RMSNorm(x);  x += down(silu(gate(n)) ⊙ up(n))
//   final RMSNorm, then logits = h · lm_headᵀ (lm_head may be embed_tokens: tied)

import Kernels

/// One decoder layer's weights. q|k|v and gate|up are stacked projections (one GEMM each, outputs side by side);
/// the separate projections are views of their rows.
public struct LlamaLayer: Sendable {
    public let inputLayerNorm: Tensor
    /// [(H + 2·Hkv)·Hd, D]: q rows, then k rows, then v rows.
    public let qkvProj: Linear
    public let oProj: Linear
    public let postAttentionLayerNorm: Tensor
    /// [2·I, D]: gate rows, then up rows.
    public let gateUpProj: Linear
    public let downProj: Linear

    var qWidth: Int { oProj.inFeatures }
    var kvWidth: Int { (qkvProj.outFeatures - qWidth) / 2 }
    var intermediate: Int { downProj.inFeatures }
    public var qProj: Linear { qkvProj.rows(0..<qWidth) }
    public var kProj: Linear { qkvProj.rows(qWidth..<qWidth + kvWidth) }
    public var vProj: Linear { qkvProj.rows(qWidth + kvWidth..<qWidth + 2 * kvWidth) }
    public var gateProj: Linear { gateUpProj.rows(0..<intermediate) }
    public var upProj: Linear { gateUpProj.rows(intermediate..<2 * intermediate) }
}

/// Per-stream buffers of the decoder, sized for up to `maxTokens` new tokens per call (grown on demand, or reserved
/// up front by a stream that must not allocate mid-run).
public final class DecoderWorkspace {
    public private(set) var maxTokens = 0
    private let config: TextConfig
    var normed = Tensor(zeros: [0]), qkv = Tensor(zeros: [0])
    var attention = Tensor(zeros: [0]), gateUp = Tensor(zeros: [0]), act = Tensor(zeros: [0])
    var hidden = Tensor(zeros: [0])

    init(config: TextConfig) {
        self.config = config
    }

    /// Makes room for calls of up to `tokens` tokens (rounded up to the matmul row bucket).
    public func reserve(_ tokens: Int) {
        let rows = ComputeContext.bucketedRows(tokens)
        guard rows > maxTokens else { return }
        let c = config
        let tokens = rows
        maxTokens = tokens
        normed = Tensor(zeros: [tokens, c.hiddenSize])
        hidden = Tensor(zeros: [tokens, c.hiddenSize])
        qkv = Tensor(zeros: [tokens, (c.numAttentionHeads + 2 * c.numKeyValueHeads) * c.headDim])
        attention = Tensor(zeros: [tokens, c.numAttentionHeads * c.headDim])
        gateUp = Tensor(zeros: [tokens, 2 * c.intermediateSize])
        act = Tensor(zeros: [tokens, c.intermediateSize])
    }
}

/// The decoder: immutable weights, shared between streams.
public struct LlamaDecoder: Sendable {
    public let config: TextConfig
    /// [V, D].
    public let embedTokens: Tensor
    public internal(set) var layers: [LlamaLayer]
    /// Final RMSNorm weight [D].
    public let norm: Tensor
    /// [V, D]; shares `embedTokens` when the embeddings are tied.
    public internal(set) var lmHead: Linear
    public let rope: RotaryEmbedding
    /// Weights of the fused single-token decode step, when the precision uses it.
    public internal(set) var fusedDecode: FusedDecodeWeights?
    /// The precision the weights were prepared for.
    public internal(set) var precision = ResolvedPrecision(matmul: .f32, decode: nil)

    /// Loads `<prefix>.embed_tokens`, `<prefix>.layers.*`, `<prefix>.norm` and `lmHeadName` (or ties it).
    init(config: TextConfig, weights w: CheckedWeights, prefix: String, lmHeadName: String, tied: Bool) {
        self.config = config
        let d = config.hiddenSize
        let qWidth = config.numAttentionHeads * config.headDim
        let kvWidth = config.numKeyValueHeads * config.headDim
        embedTokens = w.take(prefix + ".embed_tokens.weight", [config.vocabSize, d])
        layers = (0..<config.numHiddenLayers).map { i in
            let l = "\(prefix).layers.\(i)"
            return LlamaLayer(
                inputLayerNorm: w.take(l + ".input_layernorm.weight", [d]),
                qkvProj: w.stacked([
                    w.linear(l + ".self_attn.q_proj", out: qWidth, in: d, bias: config.attentionBias),
                    w.linear(l + ".self_attn.k_proj", out: kvWidth, in: d, bias: config.attentionBias),
                    w.linear(l + ".self_attn.v_proj", out: kvWidth, in: d, bias: config.attentionBias),
                ]),
                oProj: w.linear(l + ".self_attn.o_proj", out: d, in: qWidth, bias: config.attentionBias),
                postAttentionLayerNorm: w.take(l + ".post_attention_layernorm.weight", [d]),
                gateUpProj: w.stacked([
                    w.linear(l + ".mlp.gate_proj", out: config.intermediateSize, in: d, bias: config.mlpBias),
                    w.linear(l + ".mlp.up_proj", out: config.intermediateSize, in: d, bias: config.mlpBias),
                ]),
                downProj: w.linear(l + ".mlp.down_proj", out: d, in: config.intermediateSize, bias: config.mlpBias))
        }
        norm = w.take(prefix + ".norm.weight", [d])
        // transformers ties lm_head to embed_tokens when the config says so and lm_head is absent; a stored lm_head
        // is used as is (a config that says "tied" over two different matrices is not tied by transformers either).
        if let head = w.takeIfPresent(lmHeadName, [config.vocabSize, d]) {
            lmHead = Linear(weight: head)
        } else if tied {
            lmHead = Linear(weight: embedTokens)
        } else {
            lmHead = Linear(weight: w.take(lmHeadName, [config.vocabSize, d]))
        }
        rope = RotaryEmbedding(
            headDim: config.headDim, theta: config.ropeTheta, maxPositions: max(1, config.maxPositionEmbeddings))
    }

    /// Element type of this decoder's KV caches: bf16 where the precision asks for it and the attention kernels
    /// take it (AVX-512, head dim a multiple of 16 up to 128), else f32.
    public var kvCacheType: DType {
        precision.kvCache == .bf16 && config.headDim % 16 == 0 && config.headDim <= 128 ? .bf16 : .f32
    }

    /// A cache for `capacity` tokens of this decoder; `keepsPreRoPEKeys` for caches whose tokens get re-positioned.
    public func makeCache(capacity: Int, keepsPreRoPEKeys: Bool = false) -> KVCache {
        KVCache(
            layerCount: config.numHiddenLayers, kvHeads: config.numKeyValueHeads, headDim: config.headDim,
            capacity: capacity, dtype: kvCacheType, keepsPreRoPEKeys: keepsPreRoPEKeys)
    }

    /// Buffers for this decoder.
    public func makeWorkspace() -> DecoderWorkspace { DecoderWorkspace(config: config) }

    /// Writes the embeddings of `ids` into `out` [T, D]. Ids must be in the vocabulary.
    public func embed(_ ids: [Int], into out: Tensor) {
        let d = config.hiddenSize
        precondition(out.count >= ids.count * d, "embed: output too small")
        for t in 0..<ids.count {
            let id = ids[t]
            precondition(id >= 0 && id < config.vocabSize, "embed: token id \(id) outside the vocabulary")
            (out.floats + t * d).update(from: embedTokens.floats + id * d, count: d)
        }
    }

    /// Runs the new tokens' embeddings x [T, D] through every layer, appending their K/V to `cache` at
    /// `positions`, and returns the final-normed hidden states [T, D] (a view into the workspace).
    public func forward(
        _ x: Tensor, positions: [Int32], cache: any DecoderCache, workspace ws: DecoderWorkspace,
        context: ComputeContext, trace: TraceSink? = nil
    ) -> Tensor {
        positions.withUnsafeBufferPointer {
            forward(x, positions: $0, cache: cache, workspace: ws, context: context, trace: trace)
        }
    }

    /// `forward` with positions in caller-owned memory (no allocation per call).
    ///
    /// `queryMeans`, when given, receives for every layer the mean over the new tokens of their pre-RoPE queries,
    /// heads side by side (L × H·Hd floats): what a retrieval step compares with stored blocks' mean keys.
    public func forward(
        _ x: Tensor, positions: UnsafeBufferPointer<Int32>, cache cacheRef: any DecoderCache,
        workspace ws: DecoderWorkspace, context: ComputeContext, trace: TraceSink? = nil,
        queryMeans: UnsafeMutablePointer<Float>? = nil
    ) -> Tensor {
        let cache = cacheRef.storage
        let t = positions.count
        let c = config
        precondition(x.count == t * c.hiddenSize, "decoder: input \(x.shape) is not [\(t), \(c.hiddenSize)]")
        precondition(cache.count + t <= cache.capacity, "decoder: KV cache full (the caller checks room first)")
        ws.reserve(t)
        let hidden = ws.hidden.rows(0..<t)
        hidden.copy(from: x)
        trace?("text.inputs_embeds", hidden)
        let normed = ws.normed.rows(0..<t)
        let qkv = ws.qkv.rows(0..<t)
        let attention = ws.attention.rows(0..<t)
        let gateUp = ws.gateUp.rows(0..<t), act = ws.act.rows(0..<t)
        let qWidth = c.numAttentionHeads * c.headDim
        let kvWidth = c.numKeyValueHeads * c.headDim
        let stride = qWidth + 2 * kvWidth
        let q = qkv.floats, k = q + qWidth, v = k + kvWidth
        let eps = Float(c.rmsNormEps)
        let past = cache.count
        let pos = positions
        for i in 0..<layers.count {
            let layer = layers[i]
            // Attention block: x [T, D] -> qkv [T, (H + 2Hkv)·Hd], q | k | v side by side in each row.
            Ops.rmsNorm(hidden, weight: layer.inputLayerNorm, eps: eps, into: normed)
            context.linear(normed, layer.qkvProj, into: qkv, bucketed: true)
            if let queryMeans {
                RowOps.mean(q, stride: stride, rows: t, width: qWidth, into: queryMeans + i * qWidth)
            }
            rope.apply(q, tokens: t, heads: c.numAttentionHeads, rowStride: stride, positions: pos.baseAddress!)
            cache.writePreRoPEKeys(layer: i, k: k, rowStride: stride, tokens: t)
            rope.apply(k, tokens: t, heads: c.numKeyValueHeads, rowStride: stride, positions: pos.baseAddress!)
            cache.write(layer: i, k: k, v: v, rowStride: stride, tokens: t)
            context.attention(
                queries: q, queryCount: t, queryStride: stride, keys: cache.keyView(layer: i),
                values: cache.valueView(layer: i), keyCount: past + t, heads: c.numAttentionHeads,
                kvHeads: c.numKeyValueHeads, headDim: c.headDim, scale: 1 / Float(c.headDim).squareRoot(),
                causalOffset: past, into: attention, kernel: precision.matmul == .bf16 ? .bf16 : .automatic)
            context.linear(attention, layer.oProj, into: hidden, accumulate: true, bucketed: true)
            // MLP block (SwiGLU): gate | up in one GEMM, [T, 2I] -> act [T, I].
            Ops.rmsNorm(hidden, weight: layer.postAttentionLayerNorm, eps: eps, into: normed)
            context.linear(normed, layer.gateUpProj, into: gateUp, bucketed: true)
            Ops.siluMul(gateUp: gateUp, into: act)
            context.linear(act, layer.downProj, into: hidden, accumulate: true, bucketed: true)
            trace?("text.layer.\(i)", hidden)
        }
        cache.commit(positions: positions)
        Ops.rmsNorm(hidden, weight: norm, eps: eps, into: normed)
        trace?("text.norm", normed)
        return normed
    }

    /// logits [R, V] = rows · lm_headᵀ for hidden rows [R, D].
    public func logits(_ rows: Tensor, into out: Tensor, context: ComputeContext) {
        context.linear(rows, lmHead, into: out)
    }
}
