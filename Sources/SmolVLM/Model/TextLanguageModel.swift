// A text-only language model: a Llama decoder with its tokenizer and chat format. Today it comes from a GGUF file
// (SmolLM2, the text decoder of SmolVLM2-256M), whose tokenizer, ChatML template and stop token it uses.

import Foundation
import Kernels
import Tokenization

/// A decoder-only model with its tokenizer.
public struct TextLanguageModel: Sendable {
    public internal(set) var decoder: LlamaDecoder
    public let tokenizer: Tokenizer
    /// Ids that end a reply.
    public let stopTokenIDs: [Int]
    /// The GGUF checkpoint it came from (chat template, metadata).
    public let checkpoint: GGUFLlamaCheckpoint

    /// Loads a llama GGUF file: weights dequantised to f32 in Hugging Face layout, tokenizer from its metadata.
    public static func load(gguf url: URL) throws -> TextLanguageModel {
        let checkpoint = try GGUFLlamaCheckpoint.load(url)
        let hp = checkpoint.hyperparameters
        let config = TextConfig(
            vocabSize: hp.vocabSize, hiddenSize: hp.hiddenSize, intermediateSize: hp.intermediateSize,
            numHiddenLayers: hp.layerCount, numAttentionHeads: hp.headCount, numKeyValueHeads: hp.kvHeadCount,
            headDim: hp.headDim, hiddenAct: "silu", maxPositionEmbeddings: hp.contextLength,
            rmsNormEps: Double(hp.rmsNormEps), ropeTheta: Double(hp.ropeTheta), attentionBias: false, mlpBias: false,
            bosTokenID: checkpoint.bosTokenID, eosTokenIDs: checkpoint.eosTokenIDs)
        let problems = config.problems()
        if !problems.isEmpty { throw CheckpointError(location: url.path, problems: problems) }
        let weights = CheckedWeights(InMemoryWeights(location: url.path, tensors: checkpoint.weights))
        let decoder = LlamaDecoder(
            config: config, weights: weights, prefix: "model", lmHeadName: "lm_head.weight", tied: hp.tiedEmbeddings)
        try weights.finish()
        return TextLanguageModel(
            decoder: decoder, tokenizer: try checkpoint.makeTokenizer(), stopTokenIDs: checkpoint.eosTokenIDs,
            checkpoint: checkpoint)
    }

    /// The model's chat prompt for one user message, ending where the assistant's reply starts.
    public func chatPrompt(user text: String) throws -> String {
        try checkpoint.chatPrompt(messages: [(role: "user", content: text)], addGenerationPrompt: true)
    }

    /// This model at `precision` (weights converted once).
    public func prepared(for precision: Precision) -> TextLanguageModel {
        var copy = self
        copy.decoder = decoder.prepared(for: precision)
        return copy
    }
}
