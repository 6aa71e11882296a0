// Llama (SmolLM2) decoder hyper-parameters, and how to read them from GGUF metadata (llama.cpp
// src/llama-model.cpp `load_hparams` for LLM_ARCH_LLAMA; transformers integrations/gguf config mapping).
//
// GGUF keys read (prefix = general.architecture = "llama"):
//   llama.block_count                        → layerCount
//   llama.embedding_length                   → hiddenSize
//   llama.feed_forward_length                → intermediateSize
//   llama.attention.head_count               → headCount
//   llama.attention.head_count_kv            → kvHeadCount       (default: headCount, as llama.cpp)
//   llama.attention.key_length               → headDim           (default: hiddenSize / headCount)
//   llama.rope.dimension_count               must equal headDim  (Vigil's decoder rotates whole heads)
//   llama.rope.freq_base                     → ropeTheta         (default: 10000, llama.cpp's default)
//   llama.attention.layer_norm_rms_epsilon   → rmsNormEps
//   llama.context_length                     → contextLength
//   llama.vocab_size                         → vocabSize         (default: the token count)
// Refused as unsupported: rope scaling other than none, mixture-of-experts (llama.expert_count > 0).

/// The shape of a Llama decoder.
public struct LlamaHyperparameters: Sendable, Equatable {
    /// Decoder layers (`num_hidden_layers`).
    public var layerCount: Int
    /// Model width D (`hidden_size`).
    public var hiddenSize: Int
    /// MLP width I (`intermediate_size`).
    public var intermediateSize: Int
    /// Query heads H (`num_attention_heads`).
    public var headCount: Int
    /// Key/value heads Hkv (`num_key_value_heads`); each serves headCount / kvHeadCount query heads.
    public var kvHeadCount: Int
    /// Head width Hd (`head_dim`).
    public var headDim: Int
    /// RoPE base (`rope_theta`).
    public var ropeTheta: Float
    /// RMSNorm epsilon (`rms_norm_eps`).
    public var rmsNormEps: Float
    /// Rows of the embedding (and of the LM head) (`vocab_size`).
    public var vocabSize: Int
    /// Longest context the model was trained for (`max_position_embeddings`).
    public var contextLength: Int
    /// Whether the LM head is the embedding matrix (`tie_word_embeddings`; no `lm_head.weight` then).
    public var tiedEmbeddings: Bool

    /// Hyper-parameters given one by one.
    public init(
        layerCount: Int, hiddenSize: Int, intermediateSize: Int, headCount: Int, kvHeadCount: Int, headDim: Int,
        ropeTheta: Float, rmsNormEps: Float, vocabSize: Int, contextLength: Int, tiedEmbeddings: Bool
    ) {
        self.layerCount = layerCount
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.tiedEmbeddings = tiedEmbeddings
    }

    /// Reads the hyper-parameters of a `llama` GGUF file; `tokenCount` is the default vocabulary size.
    public init(gguf file: GGUFFile, tokenCount: Int) throws {
        let arch = "llama"
        func invalid(_ key: String, _ problem: String) -> GGUFError {
            GGUFError(.invalidValue, path: file.url.path, "metadata key '\(key)' \(problem); the file is damaged")
        }
        func positive(_ key: String, default value: Int? = nil) throws -> Int {
            let result = try value.map { try file.optionalInteger(key) ?? $0 } ?? file.requiredInteger(key)
            guard result > 0 else { throw invalid(key, "is \(result), it must be positive") }
            return result
        }

        if let scaling = try file.optionalString("\(arch).rope.scaling.type"), scaling != "none" {
            throw GGUFError(
                .unsupportedArchitecture, path: file.url.path,
                "this llama model uses '\(scaling)' rope scaling (\(arch).rope.scaling.type), which Vigil's "
                    + "decoder does not implement; use a model without rope scaling (such as SmolLM2)")
        }
        if let experts = try file.optionalInteger("\(arch).expert_count"), experts > 0 {
            throw GGUFError(
                .unsupportedArchitecture, path: file.url.path,
                "this llama model is a mixture of \(experts) experts (\(arch).expert_count), which Vigil's decoder "
                    + "does not implement; use a dense model (such as SmolLM2)")
        }

        layerCount = try positive("\(arch).block_count")
        hiddenSize = try positive("\(arch).embedding_length")
        intermediateSize = try positive("\(arch).feed_forward_length")
        headCount = try positive("\(arch).attention.head_count")
        kvHeadCount = try positive("\(arch).attention.head_count_kv", default: headCount)
        guard headCount % kvHeadCount == 0 else {
            throw invalid(
                "\(arch).attention.head_count_kv", "is \(kvHeadCount), which does not divide the \(headCount) heads")
        }
        if try file.optionalInteger("\(arch).attention.key_length") == nil {
            guard hiddenSize % headCount == 0 else {
                throw invalid(
                    "\(arch).attention.head_count", "is \(headCount), which does not divide the width \(hiddenSize)")
            }
        }
        headDim = try positive("\(arch).attention.key_length", default: hiddenSize / headCount)
        let valueLength = try positive("\(arch).attention.value_length", default: headDim)
        guard valueLength == headDim else {
            throw invalid("\(arch).attention.value_length", "is \(valueLength) but the key length is \(headDim)")
        }
        guard headDim % 2 == 0 else { throw invalid("\(arch).attention.key_length", "is odd (\(headDim))") }
        let ropeDimensions = try positive("\(arch).rope.dimension_count", default: headDim)
        guard ropeDimensions == headDim else {
            throw GGUFError(
                .unsupportedArchitecture, path: file.url.path,
                "this llama model rotates \(ropeDimensions) of \(headDim) head dimensions (\(arch).rope."
                    + "dimension_count); Vigil's decoder rotates whole heads only")
        }
        ropeTheta = Float(try file.optionalFloat("\(arch).rope.freq_base") ?? 10_000)
        guard ropeTheta > 0 else { throw invalid("\(arch).rope.freq_base", "is \(ropeTheta), it must be positive") }
        rmsNormEps = Float(try file.requiredFloat("\(arch).attention.layer_norm_rms_epsilon"))
        guard rmsNormEps > 0 else {
            throw invalid("\(arch).attention.layer_norm_rms_epsilon", "is \(rmsNormEps), it must be positive")
        }
        contextLength = try positive("\(arch).context_length")
        vocabSize = try positive("\(arch).vocab_size", default: tokenCount)
        tiedEmbeddings = file.tensor(named: "output.weight") == nil
        // Sizes no real model reaches: they would overflow the shape arithmetic or build huge tables at load
        // (single sizes first, so that the products below cannot overflow).
        let sizes: [(String, Int, Int)] = [
            ("\(arch).block_count", layerCount, ModelLimits.maxLayers),
            ("\(arch).embedding_length", hiddenSize, ModelLimits.maxDimension),
            ("\(arch).feed_forward_length", intermediateSize, ModelLimits.maxDimension),
            ("\(arch).attention.head_count", headCount, ModelLimits.maxDimension),
            ("\(arch).attention.key_length", headDim, ModelLimits.maxDimension),
            ("\(arch).vocab_size", vocabSize, ModelLimits.maxVocabulary),
            ("\(arch).context_length", contextLength, ModelLimits.maxPositions),
        ]
        for (key, value, limit) in sizes {
            if let excess = ModelLimits.excess(value, limit: limit) { throw invalid(key, excess) }
        }
        let products: [(String, Int, Int)] = [
            ("\(arch).attention.head_count × key_length", headCount * headDim, ModelLimits.maxDimension),
            ("\(arch).context_length × key_length (RoPE table)", contextLength * headDim,
             ModelLimits.maxRoPETableFloats),
        ]
        for (key, value, limit) in products {
            if let excess = ModelLimits.excess(value, limit: limit) { throw invalid(key, excess) }
        }
    }
}
