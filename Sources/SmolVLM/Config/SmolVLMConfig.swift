// config.json of a SmolVLM checkpoint (transformers `SmolVLMConfig`, `models/smolvlm/configuration_smolvlm.py`;
// also the older `idefics3` model type, whose tensors and numerics are the same). Absent keys take the defaults of
// transformers 5.24's config classes (`SmolVLMConfig`, `SmolVLMVisionConfig`, `LlamaConfig` with the
// `rms_norm_eps = 1e-5` SmolVLM passes), so a config written by transformers loads exactly as transformers reads it.
//
// RoPE θ: transformers 4.x writes `text_config.rope_theta`; 5.x writes `text_config.rope_parameters.rope_theta`
// only. Both load; `rope_parameters` wins when both are present (as in 5.x, which folds the legacy key into it).

import Foundation

/// The top-level model configuration.
public struct SmolVLMConfig: Codable, Sendable {
    /// `smolvlm` or `idefics3`.
    public var modelType: String
    /// Id of the `<image>` placeholder token (default 128257, the class default; SmolVLM2 uses 49190).
    public var imageTokenID: Int
    /// Pixel-shuffle factor of the connector (default 2; SmolVLM2 uses 4).
    public var scaleFactor: Int
    /// Whether `lm_head` shares `embed_tokens` (top-level key, as transformers ties by it; default false).
    public var tieWordEmbeddings: Bool
    public var visionConfig: VisionConfig
    public var textConfig: TextConfig

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case imageTokenID = "image_token_id"
        case scaleFactor = "scale_factor"
        case tieWordEmbeddings = "tie_word_embeddings"
        case visionConfig = "vision_config"
        case textConfig = "text_config"
    }

    /// The model types this runtime implements.
    public static let supportedModelTypes: Set<String> = ["smolvlm", "idefics3"]

    public init(
        modelType: String = "smolvlm", imageTokenID: Int, scaleFactor: Int, tieWordEmbeddings: Bool,
        visionConfig: VisionConfig, textConfig: TextConfig
    ) {
        self.modelType = modelType
        self.imageTokenID = imageTokenID
        self.scaleFactor = scaleFactor
        self.tieWordEmbeddings = tieWordEmbeddings
        self.visionConfig = visionConfig
        self.textConfig = textConfig
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decode(String.self, forKey: .modelType)
        imageTokenID = try c.decodeIfPresent(Int.self, forKey: .imageTokenID) ?? 128_257  // SmolVLMConfig default
        scaleFactor = try c.decodeIfPresent(Int.self, forKey: .scaleFactor) ?? 2  // SmolVLMConfig default
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        visionConfig = try c.decodeIfPresent(VisionConfig.self, forKey: .visionConfig) ?? VisionConfig.classDefaults
        textConfig = try c.decodeIfPresent(TextConfig.self, forKey: .textConfig) ?? TextConfig.classDefaults
    }

    /// Checks the relations between sizes that the model needs; returns one message per problem.
    public func problems() -> [String] {
        var out: [String] = []
        if !Self.supportedModelTypes.contains(modelType) {
            out.append("model_type '\(modelType)' is not supported (expected one of: smolvlm, idefics3)")
        }
        out += visionConfig.problems()
        out += textConfig.problems()
        let grid = visionConfig.imageSize / max(1, visionConfig.patchSize)
        if scaleFactor < 1 || grid % max(1, scaleFactor) != 0 {
            out.append("scale_factor \(scaleFactor) does not divide the \(grid)×\(grid) patch grid")
        }
        if imageTokenID < 0 || imageTokenID >= textConfig.vocabSize {
            out.append("image_token_id \(imageTokenID) is outside the vocabulary (0..<\(textConfig.vocabSize))")
        }
        if let excess = ModelLimits.excess(scaleFactor, limit: ModelLimits.maxScaleFactor) {
            out.append("scale_factor \(excess)")
        }
        return out
    }

    /// Visual tokens one frame becomes: (patch grid / scale factor)².
    public var tokensPerFrame: Int {
        let grid = visionConfig.imageSize / visionConfig.patchSize / scaleFactor
        return grid * grid
    }
}

/// `vision_config`: the SigLIP vision tower.
public struct VisionConfig: Codable, Sendable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numChannels: Int
    public var imageSize: Int
    public var patchSize: Int
    public var hiddenAct: String
    public var layerNormEps: Double

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numChannels = "num_channels"
        case imageSize = "image_size"
        case patchSize = "patch_size"
        case hiddenAct = "hidden_act"
        case layerNormEps = "layer_norm_eps"
    }

    /// `SmolVLMVisionConfig`'s defaults in transformers 5.24.
    public static let classDefaults = VisionConfig(
        hiddenSize: 1152, intermediateSize: 3072, numHiddenLayers: 12, numAttentionHeads: 16, numChannels: 3,
        imageSize: 224, patchSize: 32, hiddenAct: "gelu_pytorch_tanh", layerNormEps: 1e-6)

    public init(
        hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, numChannels: Int,
        imageSize: Int, patchSize: Int, hiddenAct: String, layerNormEps: Double
    ) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numChannels = numChannels
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.hiddenAct = hiddenAct
        self.layerNormEps = layerNormEps
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self.classDefaults
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        numChannels = try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? d.numChannels
        imageSize = try Self.decodeSquare(c, .imageSize) ?? d.imageSize
        patchSize = try Self.decodeSquare(c, .patchSize) ?? d.patchSize
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        layerNormEps = try c.decodeIfPresent(Double.self, forKey: .layerNormEps) ?? d.layerNormEps
    }

    /// `image_size`/`patch_size` may be an int or a [h, w] pair; only squares are supported.
    private static func decodeSquare(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Int? {
        if let v = try? c.decodeIfPresent(Int.self, forKey: key) { return v }
        guard let pair = try c.decodeIfPresent([Int].self, forKey: key) else { return nil }
        guard pair.count == 2, pair[0] == pair[1] else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c, debugDescription: "only square \(key.rawValue) is supported, got \(pair)")
        }
        return pair[0]
    }

    /// Size relations the tower needs.
    func problems() -> [String] {
        var out: [String] = []
        if hiddenSize <= 0 || numAttentionHeads <= 0 || hiddenSize % numAttentionHeads != 0 {
            out.append("vision_config.hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)")
        }
        if patchSize <= 0 || imageSize % patchSize != 0 {
            out.append("vision_config.image_size \(imageSize) is not a multiple of patch_size \(patchSize)")
        }
        if !["gelu_pytorch_tanh", "gelu_tanh", "gelu_new"].contains(hiddenAct) {
            out.append("vision_config.hidden_act '\(hiddenAct)' is not supported (expected gelu_pytorch_tanh)")
        }
        if numHiddenLayers < 0 || intermediateSize <= 0 || numChannels <= 0 || imageSize <= 0 {
            out.append("vision_config has a non-positive size")
        }
        // Sizes no real tower reaches (they would overflow the shape arithmetic of the checked loader).
        let bounds: [(String, Int, Int)] = [
            ("hidden_size", hiddenSize, ModelLimits.maxDimension),
            ("intermediate_size", intermediateSize, ModelLimits.maxDimension),
            ("num_hidden_layers", numHiddenLayers, ModelLimits.maxLayers),
            ("num_channels", numChannels, 64), ("image_size", imageSize, ModelLimits.maxImageSide),
        ]
        for (key, value, limit) in bounds {
            if let excess = ModelLimits.excess(value, limit: limit) { out.append("vision_config.\(key) \(excess)") }
        }
        return out
    }
}

/// `text_config`: the Llama (SmolLM2) decoder.
public struct TextConfig: Codable, Sendable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var hiddenAct: String
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var attentionBias: Bool
    public var mlpBias: Bool
    public var bosTokenID: Int?
    public var eosTokenIDs: [Int]

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case hiddenAct = "hidden_act"
        case maxPositionEmbeddings = "max_position_embeddings"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case ropeParameters = "rope_parameters"
        case ropeScaling = "rope_scaling"
        case attentionBias = "attention_bias"
        case mlpBias = "mlp_bias"
        case bosTokenID = "bos_token_id"
        case eosTokenID = "eos_token_id"
    }

    private struct RopeParameters: Codable {
        var ropeTheta: Double?
        var ropeType: String?
        enum CodingKeys: String, CodingKey {
            case ropeTheta = "rope_theta"
            case ropeType = "rope_type"
        }
    }

    /// `LlamaConfig`'s defaults in transformers 5.24, with the `rms_norm_eps = 1e-5` that `SmolVLMConfig` passes.
    public static let classDefaults = TextConfig(
        vocabSize: 32000, hiddenSize: 4096, intermediateSize: 11008, numHiddenLayers: 32, numAttentionHeads: 32,
        numKeyValueHeads: 32, headDim: 128, hiddenAct: "silu", maxPositionEmbeddings: 2048, rmsNormEps: 1e-5,
        ropeTheta: 10000, attentionBias: false, mlpBias: false, bosTokenID: 1, eosTokenIDs: [2])

    public init(
        vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
        numKeyValueHeads: Int, headDim: Int, hiddenAct: String, maxPositionEmbeddings: Int, rmsNormEps: Double,
        ropeTheta: Double, attentionBias: Bool, mlpBias: Bool, bosTokenID: Int?, eosTokenIDs: [Int]
    ) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.numKeyValueHeads = numKeyValueHeads
        self.headDim = headDim
        self.hiddenAct = hiddenAct
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.rmsNormEps = rmsNormEps
        self.ropeTheta = ropeTheta
        self.attentionBias = attentionBias
        self.mlpBias = mlpBias
        self.bosTokenID = bosTokenID
        self.eosTokenIDs = eosTokenIDs
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = Self.classDefaults
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        // LlamaConfig: num_key_value_heads None → num_attention_heads; head_dim None → hidden_size / heads.
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? hiddenSize / max(1, numAttentionHeads)
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings)
            ?? d.maxPositionEmbeddings
        // LlamaConfig's own default (1e-6) applies to a text_config that omits the key; SmolVLMConfig's 1e-5 only
        // to a config without any text_config (`classDefaults`).
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? 1e-6
        let parameters = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        let scaling = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling)
        for p in [parameters, scaling] {
            if let type = p?.ropeType, type != "default" {
                throw DecodingError.dataCorruptedError(
                    forKey: .ropeParameters, in: c,
                    debugDescription: "rope_type '\(type)' is not supported (only the default RoPE is)")
            }
        }
        ropeTheta = try parameters?.ropeTheta ?? c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? d.ropeTheta
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        mlpBias = try c.decodeIfPresent(Bool.self, forKey: .mlpBias) ?? false
        bosTokenID = try c.decodeIfPresent(Int.self, forKey: .bosTokenID)
        if let single = try? c.decodeIfPresent(Int.self, forKey: .eosTokenID) {
            eosTokenIDs = [single]
        } else {
            eosTokenIDs = try c.decodeIfPresent([Int].self, forKey: .eosTokenID) ?? []
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encode(attentionBias, forKey: .attentionBias)
        try c.encode(mlpBias, forKey: .mlpBias)
        try c.encodeIfPresent(bosTokenID, forKey: .bosTokenID)
        try c.encode(eosTokenIDs, forKey: .eosTokenID)
    }

    /// Size relations the decoder needs.
    func problems() -> [String] {
        var out: [String] = []
        if numAttentionHeads <= 0 || numKeyValueHeads <= 0 || numAttentionHeads % numKeyValueHeads != 0 {
            out.append(
                "text_config.num_attention_heads \(numAttentionHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)")
        }
        if headDim <= 0 || headDim % 2 != 0 {
            out.append("text_config.head_dim \(headDim) must be positive and even (RoPE rotates pairs)")
        }
        if hiddenAct != "silu" {
            out.append("text_config.hidden_act '\(hiddenAct)' is not supported (expected silu)")
        }
        if vocabSize <= 0 || hiddenSize <= 0 || intermediateSize <= 0 || numHiddenLayers < 0 {
            out.append("text_config has a non-positive size")
        }
        if ropeTheta <= 0 { out.append("text_config rope_theta \(ropeTheta) must be positive") }
        if maxPositionEmbeddings < 0 { out.append("text_config.max_position_embeddings is negative") }
        // Sizes no real decoder reaches: they would overflow the shape arithmetic of the checked loader or build
        // huge RoPE tables (single sizes first, so that the product cannot overflow).
        let bounds: [(String, Int, Int)] = [
            ("vocab_size", vocabSize, ModelLimits.maxVocabulary),
            ("hidden_size", hiddenSize, ModelLimits.maxDimension),
            ("intermediate_size", intermediateSize, ModelLimits.maxDimension),
            ("num_hidden_layers", numHiddenLayers, ModelLimits.maxLayers),
            ("num_attention_heads", numAttentionHeads, ModelLimits.maxDimension),
            ("head_dim", headDim, ModelLimits.maxDimension),
            ("max_position_embeddings", maxPositionEmbeddings, ModelLimits.maxPositions),
        ]
        var withinBounds = true
        for (key, value, limit) in bounds {
            if let excess = ModelLimits.excess(value, limit: limit) {
                out.append("text_config.\(key) \(excess)")
                withinBounds = false
            }
        }
        if withinBounds {
            let products: [(String, Int, Int)] = [
                ("num_attention_heads × head_dim", numAttentionHeads * headDim, ModelLimits.maxDimension),
                ("max_position_embeddings × head_dim (RoPE table)", maxPositionEmbeddings * headDim,
                 ModelLimits.maxRoPETableFloats),
            ]
            for (key, value, limit) in products {
                if let excess = ModelLimits.excess(value, limit: limit) { out.append("text_config \(key) \(excess)") }
            }
        }
        return out
    }
}

/// generation_config.json: the stop tokens (and the few sampling defaults a checkpoint may carry).
public struct GenerationConfig: Codable, Sendable {
    public var eosTokenIDs: [Int]
    public var bosTokenID: Int?
    public var padTokenID: Int?

    enum CodingKeys: String, CodingKey {
        case eosTokenID = "eos_token_id"
        case bosTokenID = "bos_token_id"
        case padTokenID = "pad_token_id"
    }

    public init(eosTokenIDs: [Int], bosTokenID: Int? = nil, padTokenID: Int? = nil) {
        self.eosTokenIDs = eosTokenIDs
        self.bosTokenID = bosTokenID
        self.padTokenID = padTokenID
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let single = try? c.decodeIfPresent(Int.self, forKey: .eosTokenID) {
            eosTokenIDs = [single]
        } else {
            eosTokenIDs = try c.decodeIfPresent([Int].self, forKey: .eosTokenID) ?? []
        }
        bosTokenID = try? c.decodeIfPresent(Int.self, forKey: .bosTokenID)
        padTokenID = try? c.decodeIfPresent(Int.self, forKey: .padTokenID)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(eosTokenIDs, forKey: .eosTokenID)
        try c.encodeIfPresent(bosTokenID, forKey: .bosTokenID)
        try c.encodeIfPresent(padTokenID, forKey: .padTokenID)
    }
}
