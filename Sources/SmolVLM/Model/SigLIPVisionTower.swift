// SigLIP vision tower of SmolVLM (port of transformers `SmolVLMVisionTransformer`, models/smolvlm/modeling_smolvlm.py).
// Reads vision_config: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_channels,
// image_size, patch_size, layer_norm_eps.
//
// Shape legend: P patches per frame = (image_size / patch_size)², D hidden, I MLP width, H heads, Hd = D / H.
//
//   pixels [C, S, S] → patches [P, C·p·p] → x = patches · Wpatchᵀ + b + pos[P, D]       (Conv2d k=p, s=p as a GEMM)
//   per layer (pre-LN):  x += out_proj(attention(LN1(x)))   ;   x += fc2(gelu_tanh(fc1(LN2(x))))
//   post_layernorm(x) → [P, D]
//
// Position ids are the identity (patch r·G + c) for a full, unpadded frame, as in transformers 5.24 (some 4.5x
// releases bucketed rows/cols 0 and 1 together; see the brief). Attention is bidirectional, softmax in fp32.
// The layer is written as two branches (attention, MLP) over a workspace so that later per-patch reuse
// (STC-Cacher) can run them on subsets of rows.

import Kernels

/// LayerNorm weights.
public struct LayerNormWeights: Sendable {
    public let weight: Tensor
    public let bias: Tensor?
    public let eps: Float
}

/// One pre-LN encoder block. q, k and v are one stacked projection ([3D, D]: one GEMM, outputs side by side);
/// `qProj`/`kProj`/`vProj` are views of its rows.
public struct SigLIPLayer: Sendable {
    public let layerNorm1: LayerNormWeights
    public let qkvProj: Linear
    public let outProj: Linear
    public let layerNorm2: LayerNormWeights
    public let fc1, fc2: Linear

    var width: Int { outProj.outFeatures }
    public var qProj: Linear { qkvProj.rows(0..<width) }
    public var kProj: Linear { qkvProj.rows(width..<2 * width) }
    public var vProj: Linear { qkvProj.rows(2 * width..<3 * width) }
}

/// Per-stream buffers of the vision tower (allocated once for a frame size).
public final class VisionWorkspace {
    let patches: Tensor  // [P, C·p·p]
    let hidden: Tensor  // [P, D]   the residual stream
    let normed: Tensor  // [P, D]
    let qkv: Tensor  // [P, 3D]  q | k | v of each patch
    let attention: Tensor  // [P, D]
    let mlp: Tensor  // [P, I]
    public let output: Tensor  // [P, D]  post-LN

    init(patchCount: Int, patchDim: Int, hidden dim: Int, intermediate: Int) {
        patches = Tensor(zeros: [patchCount, patchDim])
        hidden = Tensor(zeros: [patchCount, dim])
        normed = Tensor(zeros: [patchCount, dim])
        qkv = Tensor(zeros: [patchCount, 3 * dim])
        attention = Tensor(zeros: [patchCount, dim])
        mlp = Tensor(zeros: [patchCount, intermediate])
        output = Tensor(zeros: [patchCount, dim])
    }
}

/// The SigLIP encoder: immutable weights, shared between streams.
public struct SigLIPVisionTower: Sendable {
    public let config: VisionConfig
    /// The patch Conv2d as a linear layer: weight [D, C·p·p], bias [D].
    public internal(set) var patchEmbedding: Linear
    /// Learned position table [P, D].
    public let positionEmbedding: Tensor
    public internal(set) var layers: [SigLIPLayer]
    public let postLayerNorm: LayerNormWeights
    /// Attention implementation (bf16 dot products at the bf16 precisions).
    public internal(set) var attentionKernel = AttentionKernel.automatic

    /// Patches per frame.
    public var patchCount: Int { (config.imageSize / config.patchSize) * (config.imageSize / config.patchSize) }

    /// Loads `model.vision_model.*` (prefix as in SmolVLMForConditionalGeneration).
    init(config: VisionConfig, weights w: CheckedWeights, prefix: String) {
        self.config = config
        let d = config.hiddenSize
        let p = config.patchSize
        let c = config.numChannels
        let grid = config.imageSize / max(1, p)
        let eps = Float(config.layerNormEps)
        let conv = w.take(prefix + ".embeddings.patch_embedding.weight", [d, c, p, p])
        patchEmbedding = Linear(
            weight: conv.reshaped([d, c * p * p]), bias: w.take(prefix + ".embeddings.patch_embedding.bias", [d]))
        positionEmbedding = w.take(prefix + ".embeddings.position_embedding.weight", [grid * grid, d])
        func norm(_ name: String) -> LayerNormWeights {
            LayerNormWeights(weight: w.take(name + ".weight", [d]), bias: w.take(name + ".bias", [d]), eps: eps)
        }
        layers = (0..<config.numHiddenLayers).map { i in
            let l = "\(prefix).encoder.layers.\(i)"
            return SigLIPLayer(
                layerNorm1: norm(l + ".layer_norm1"),
                qkvProj: w.stacked([
                    w.linear(l + ".self_attn.q_proj", out: d, in: d, bias: true),
                    w.linear(l + ".self_attn.k_proj", out: d, in: d, bias: true),
                    w.linear(l + ".self_attn.v_proj", out: d, in: d, bias: true),
                ]),
                outProj: w.linear(l + ".self_attn.out_proj", out: d, in: d, bias: true),
                layerNorm2: norm(l + ".layer_norm2"),
                fc1: w.linear(l + ".mlp.fc1", out: config.intermediateSize, in: d, bias: true),
                fc2: w.linear(l + ".mlp.fc2", out: d, in: config.intermediateSize, bias: true))
        }
        postLayerNorm = norm(prefix + ".post_layernorm")
    }

    /// Buffers for encoding frames of this tower's size.
    public func makeWorkspace() -> VisionWorkspace {
        VisionWorkspace(
            patchCount: patchCount, patchDim: config.numChannels * config.patchSize * config.patchSize,
            hidden: config.hiddenSize, intermediate: config.intermediateSize)
    }

    /// Encodes one frame: pixels [C, S, S] (normalised) → `workspace.output` [P, D].
    public func encode(
        _ pixels: Tensor, workspace ws: VisionWorkspace, context: ComputeContext, trace: TraceSink? = nil
    ) {
        precondition(
            pixels.shape.is(config.numChannels, config.imageSize, config.imageSize),
            "vision: pixels \(pixels.shape) are not [\(config.numChannels), \(config.imageSize), \(config.imageSize)]")
        // Patch embedding as a GEMM, then add the identity-indexed position table.
        Ops.patchify(pixels, patchSize: config.patchSize, into: ws.patches)
        context.linear(ws.patches, patchEmbedding, into: ws.hidden)
        Ops.add(ws.hidden, positionEmbedding, into: ws.hidden)
        trace?("vision.embeddings", ws.hidden)
        for i in 0..<layers.count {
            forward(layers[i], workspace: ws, context: context)
            trace?("vision.layer.\(i)", ws.hidden)
        }
        Ops.layerNorm(
            ws.hidden, weight: postLayerNorm.weight, bias: postLayerNorm.bias, eps: postLayerNorm.eps,
            into: ws.output)
        trace?("vision.post_layernorm", ws.output)
    }

    /// One block on the workspace's residual stream.
    func forward(_ layer: SigLIPLayer, workspace ws: VisionWorkspace, context: ComputeContext) {
        let heads = config.numAttentionHeads
        let headDim = config.hiddenSize / heads
        // Attention branch: x += out_proj(attn(LN1(x)))   x: [P, D]
        let n1 = layer.layerNorm1
        Ops.layerNorm(ws.hidden, weight: n1.weight, bias: n1.bias, eps: n1.eps, into: ws.normed)
        // x: [P, D] -> qkv: [P, 3D]; q, k, v are column blocks of each row.
        context.linear(ws.normed, layer.qkvProj, into: ws.qkv)
        let d = config.hiddenSize
        let stride = 3 * d
        let base = ws.qkv.raw
        context.attention(
            queries: ws.qkv.floats, queryCount: patchCount, queryStride: stride,
            keys: HeadMajorView(base: base + d * 4, headStride: headDim, rowStride: stride),
            values: HeadMajorView(base: base + 2 * d * 4, headStride: headDim, rowStride: stride),
            keyCount: patchCount, heads: heads, kvHeads: heads, headDim: headDim,
            scale: 1 / Float(headDim).squareRoot(), causalOffset: nil, into: ws.attention, kernel: attentionKernel)
        context.linear(ws.attention, layer.outProj, into: ws.hidden, accumulate: true)
        // MLP branch: x += fc2(gelu_tanh(fc1(LN2(x))))   [P, D] → [P, I] → [P, D]
        let n2 = layer.layerNorm2
        Ops.layerNorm(ws.hidden, weight: n2.weight, bias: n2.bias, eps: n2.eps, into: ws.normed)
        context.linear(ws.normed, layer.fc1, into: ws.mlp)
        Ops.geluTanh(ws.mlp)
        context.linear(ws.mlp, layer.fc2, into: ws.hidden, accumulate: true)
    }
}
