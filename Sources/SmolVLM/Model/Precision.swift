// Numeric precision of a loaded model. Weights are converted once, at load:
//   fp32  everything f32; decode through the reference path (the parity path, within 1e-4 of transformers)
//   bf16  vision and prefill matmuls in bf16 (oneDNN; AMX or AVX-512 BF16 where present); decode streams bf16
//   int8  vision and prefill as bf16; decode streams int8 weights with per-row scales (our GEMV kernels)
//   auto  int8 decode; bf16 matmuls where the CPU has native bf16 (AVX-512 BF16 / AMX), else fp32 matmuls
// Norms, embeddings, biases, softmax and the residual stream stay f32 in every mode.

import Kernels

/// The precision a model runs at (`--precision`).
public enum Precision: String, CaseIterable, Sendable {
    case fp32, bf16, int8, auto

    /// What `self` means on this CPU.
    public var resolved: ResolvedPrecision {
        switch self {
        case .fp32: return ResolvedPrecision(matmul: .f32, decode: nil)
        case .bf16: return ResolvedPrecision(matmul: .bf16, decode: .bf16)
        case .int8: return ResolvedPrecision(matmul: .bf16, decode: .int8)
        case .auto: return ResolvedPrecision(matmul: ComputeInfo.hasNativeBF16 ? .bf16 : .f32, decode: .int8)
        }
    }
}

/// Concrete storage choices of a precision.
public struct ResolvedPrecision: Sendable, Equatable {
    /// Element type of vision and prefill matmul weights (f32 or bf16).
    public var matmul: DType
    /// Weights of the fused single-token decode step; nil = the reference path.
    public var decode: DecodeWeightType?

    /// Element type of the KV cache: bf16 when a faster precision runs on a CPU with the AVX-512 kernels, else f32.
    public var kvCache: DType {
        decode != nil && ComputeInfo.kernelISA == "avx512" ? .bf16 : .f32
    }

    /// A short label ("bf16 matmul + int8 decode").
    public var label: String {
        "\(matmul == .bf16 ? "bf16" : "fp32") matmul + \(decode?.rawValue ?? "fp32 reference") decode + "
            + "\(kvCache == .bf16 ? "bf16" : "fp32") KV"
    }
}

extension SigLIPVisionTower {
    func converted(to dtype: DType) -> SigLIPVisionTower {
        guard dtype == .bf16 else { return self }
        var copy = self
        copy.attentionKernel = .bf16
        copy.patchEmbedding = patchEmbedding.bf16()
        copy.layers = layers.map { l in
            SigLIPLayer(
                layerNorm1: l.layerNorm1, qkvProj: l.qkvProj.bf16(), outProj: l.outProj.bf16(),
                layerNorm2: l.layerNorm2, fc1: l.fc1.bf16(), fc2: l.fc2.bf16())
        }
        return copy
    }
}

extension LlamaDecoder {
    /// Weights prepared for the fused decode step (from the f32 weights, before any bf16 rounding).
    func fusedDecodeWeights(_ type: DecodeWeightType) -> FusedDecodeWeights? {
        let c = config
        guard FusedDecodeWeights.supports(intermediate: c.intermediateSize, headDim: c.headDim), !c.attentionBias,
            !c.mlpBias
        else { return nil }
        return FusedDecodeWeights(
            layers: layers.map { l in
                (l.inputLayerNorm, l.postAttentionLayerNorm, l.qProj.weight, l.kProj.weight, l.vProj.weight,
                 l.oProj.weight, l.gateProj.weight, l.upProj.weight, l.downProj.weight)
            }, finalNorm: norm, lmHead: lmHead.weight, heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads,
            headDim: c.headDim, eps: Float(c.rmsNormEps), rope: rope, type: type)
    }

    func converted(to dtype: DType) -> LlamaDecoder {
        guard dtype == .bf16 else { return self }
        var copy = self
        copy.layers = layers.map { l in
            LlamaLayer(
                inputLayerNorm: l.inputLayerNorm, qkvProj: l.qkvProj.bf16(), oProj: l.oProj.bf16(),
                postAttentionLayerNorm: l.postAttentionLayerNorm, gateUpProj: l.gateUpProj.bf16(),
                downProj: l.downProj.bf16())
        }
        copy.lmHead = lmHead.bf16()
        return copy
    }

    /// This decoder at `precision` (weights converted once).
    public func prepared(for precision: Precision) -> LlamaDecoder {
        let r = precision.resolved
        var copy = converted(to: r.matmul)
        copy.fusedDecode = r.decode.flatMap { fusedDecodeWeights($0) }
        copy.precision = r
        return copy
    }
}

extension SmolVLMModel {
    /// This model at `precision` (weights converted once; the f32 originals are released when unused).
    public func prepared(for precision: Precision) -> SmolVLMModel {
        let r = precision.resolved
        var copy = self
        copy.vision = vision.converted(to: r.matmul)
        if r.matmul == .bf16 {
            copy.connector = Connector(scaleFactor: connector.scaleFactor, projection: connector.projection.bf16())
        }
        copy.decoder = decoder.prepared(for: precision)
        return copy
    }
}
