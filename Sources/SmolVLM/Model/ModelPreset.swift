// The published SmolVLM2 shapes, built in so `--random-weights` can run the exact real architecture with seeded
// random weights (for speed and memory measurements without any download). Values from the real config.json files
// (HuggingFaceTB/SmolVLM2-256M-Video-Instruct and -500M-Video-Instruct; see docs/model.md).

/// A known model architecture.
public enum ModelPreset: String, CaseIterable, Sendable {
    case smolvlm2_256m = "smolvlm2-256m"
    case smolvlm2_500m = "smolvlm2-500m"

    /// The exact configuration of the released checkpoint.
    public var config: SmolVLMConfig {
        let vision = VisionConfig(
            hiddenSize: 768, intermediateSize: 3072, numHiddenLayers: 12, numAttentionHeads: 12, numChannels: 3,
            imageSize: 512, patchSize: 16, hiddenAct: "gelu_pytorch_tanh", layerNormEps: 1e-6)
        let text: TextConfig
        switch self {
        case .smolvlm2_256m:
            text = TextConfig(
                vocabSize: 49280, hiddenSize: 576, intermediateSize: 1536, numHiddenLayers: 30, numAttentionHeads: 9,
                numKeyValueHeads: 3, headDim: 64, hiddenAct: "silu", maxPositionEmbeddings: 8192, rmsNormEps: 1e-5,
                ropeTheta: 100_000, attentionBias: false, mlpBias: false, bosTokenID: 1, eosTokenIDs: [2])
        case .smolvlm2_500m:
            text = TextConfig(
                vocabSize: 49280, hiddenSize: 960, intermediateSize: 2560, numHiddenLayers: 32, numAttentionHeads: 15,
                numKeyValueHeads: 5, headDim: 64, hiddenAct: "silu", maxPositionEmbeddings: 8192, rmsNormEps: 1e-5,
                ropeTheta: 100_000, attentionBias: false, mlpBias: false, bosTokenID: 1, eosTokenIDs: [2])
        }
        return SmolVLMConfig(
            modelType: "smolvlm", imageTokenID: 49190, scaleFactor: 4, tieWordEmbeddings: false,
            visionConfig: vision, textConfig: text)
    }

    /// generation_config.json of the released checkpoint (stops on `<end_of_utterance>`).
    public var generation: GenerationConfig { GenerationConfig(eosTokenIDs: [49279], bosTokenID: 1, padTokenID: 2) }
}

extension SmolVLMModel {
    /// The preset's exact architecture with weights drawn from `seed`.
    public static func random(_ preset: ModelPreset, seed: UInt64 = 0) throws -> SmolVLMModel {
        try SmolVLMModel(
            config: preset.config, weights: CheckedWeights(randomSeed: seed, location: "random \(preset.rawValue)"),
            generation: preset.generation)
    }
}
