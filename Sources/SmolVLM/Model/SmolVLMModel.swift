// A SmolVLM model (port of transformers `SmolVLMForConditionalGeneration`): SigLIP vision tower, pixel-shuffle
// connector and SmolLM2 decoder, loaded from a Hugging Face folder (config.json, model.safetensors,
// generation_config.json). Immutable after load; per-stream state (KV cache, workspaces, compute context) lives
// elsewhere.
//
// Tensor prefixes: model.vision_model.*, model.connector.*, model.text_model.*, lm_head.weight.

import Foundation
import Kernels

/// The whole vision-language model.
public struct SmolVLMModel: Sendable {
    public let config: SmolVLMConfig
    public internal(set) var vision: SigLIPVisionTower
    public internal(set) var connector: Connector
    public internal(set) var decoder: LlamaDecoder
    public let generation: GenerationConfig

    /// Builds the model from `config` and `weights`, checking every tensor; throws one `CheckpointError` listing
    /// all problems.
    public init(config: SmolVLMConfig, weights: any WeightSource, generation: GenerationConfig? = nil) throws {
        try self.init(config: config, weights: CheckedWeights(weights), generation: generation)
    }

    /// Builds the model from tensors taken through `w` (which may synthesise them).
    init(config: SmolVLMConfig, weights w: CheckedWeights, generation: GenerationConfig?) throws {
        let problems = config.problems()
        if !problems.isEmpty {
            throw CheckpointError(location: w.source.location, problems: problems.map { "config.json: " + $0 })
        }
        let expected = Self.expectedTensors(config)
        try w.checkBeforeLoading(required: expected.required, optional: expected.optional)
        self.config = config
        vision = SigLIPVisionTower(config: config.visionConfig, weights: w, prefix: "model.vision_model")
        connector = Connector(config: config, weights: w, prefix: "model.connector")
        decoder = LlamaDecoder(
            config: config.textConfig, weights: w, prefix: "model.text_model", lmHeadName: "lm_head.weight",
            tied: config.tieWordEmbeddings)
        try w.finish()
        self.generation = generation ?? GenerationConfig(eosTokenIDs: config.textConfig.eosTokenIDs)
    }

    /// Loads config.json, generation_config.json (if present) and the safetensors weights of `folder`.
    public static func load(from folder: URL) throws -> SmolVLMModel {
        let config: SmolVLMConfig = try ModelFiles.decodeJSON("config.json", in: folder)
        let generation: GenerationConfig? = try ModelFiles.decodeJSONIfPresent("generation_config.json", in: folder)
        let weights = try SafeTensorsWeights(folder: folder)
        return try SmolVLMModel(config: config, weights: weights, generation: generation)
    }

    /// Every tensor a checkpoint of `config` must hold, with its shape (the loader's own list; nothing is read).
    /// `lm_head.weight` is listed unless the embeddings are tied.
    public static func expectedShapes(_ config: SmolVLMConfig) throws -> [String: [Int]] {
        expectedTensors(config).required
    }

    /// The tensors a checkpoint of `config` must hold and those it may hold (`lm_head.weight` when tied), with
    /// their shapes; nothing is read or allocated. `config` must have no `problems()`.
    static func expectedTensors(_ config: SmolVLMConfig) -> (required: [String: [Int]], optional: [String: [Int]]) {
        let recorder = CheckedWeights(recordingShapesAt: "expected tensors")
        _ = SigLIPVisionTower(config: config.visionConfig, weights: recorder, prefix: "model.vision_model")
        _ = Connector(config: config, weights: recorder, prefix: "model.connector")
        _ = LlamaDecoder(
            config: config.textConfig, weights: recorder, prefix: "model.text_model", lmHeadName: "lm_head.weight",
            tied: config.tieWordEmbeddings)
        return (recorder.requested, recorder.requestedIfPresent)
    }

    /// Visual tokens per frame.
    public var tokensPerFrame: Int { config.tokensPerFrame }

    /// Ids that end generation: generation_config's eos ids (else text_config's).
    public var stopTokenIDs: [Int] {
        generation.eosTokenIDs.isEmpty ? config.textConfig.eosTokenIDs : generation.eosTokenIDs
    }
}

/// Per-stream buffers for turning frames into visual tokens.
public final class FrameEncoder {
    public let model: SmolVLMModel
    let workspace: VisionWorkspace
    let shuffled: Tensor

    public init(model: SmolVLMModel) {
        self.model = model
        workspace = model.vision.makeWorkspace()
        let v = model.config.visionConfig
        let s = model.config.scaleFactor
        shuffled = Tensor(zeros: [model.tokensPerFrame, v.hiddenSize * s * s])
    }

    /// Encodes frames pixels [N, C, S, S] into visual tokens `out` [N·tokensPerFrame, D] (frame after frame).
    public func encode(_ pixels: Tensor, into out: Tensor, context: ComputeContext, trace: TraceSink? = nil) {
        let frames = pixels.shape[0]
        let perFrame = model.tokensPerFrame
        let d = model.config.textConfig.hiddenSize
        precondition(out.count == frames * perFrame * d && out.shape.rank == 2, "encode: output is not [\(frames * perFrame), \(d)]")
        for f in 0..<frames {
            let frameTrace: TraceSink? = trace.map { sink in { name, value in sink("\(name)#\(f)", value) } }
            model.vision.encode(pixels[f], workspace: workspace, context: context, trace: frameTrace)
            model.connector.project(
                workspace.output, shuffled: shuffled, into: out.rows(f * perFrame..<(f + 1) * perFrame),
                context: context, trace: frameTrace)
        }
    }
}

extension SmolVLMModel {
    /// Embeddings [T, D] of a prompt whose `<image>` tokens stand for the frames `pixels` [N, C, S, S] (nil for a
    /// text-only prompt): the frames are encoded, then merged into the token embeddings.
    public func promptEmbeddings(ids: [Int], frames pixels: Tensor?, context: ComputeContext) throws -> Tensor {
        var features: Tensor?
        if let pixels {
            let out = Tensor(zeros: [pixels.shape[0] * tokensPerFrame, config.textConfig.hiddenSize])
            FrameEncoder(model: self).encode(pixels, into: out, context: context)
            features = out
        }
        return try inputEmbeddings(ids: ids, imageFeatures: features)
    }

    /// Token embeddings of `ids` [T, D] with the `<image>` rows replaced, in order, by `imageFeatures` rows.
    /// Throws when the number of `<image>` tokens differs from the number of feature rows.
    public func inputEmbeddings(ids: [Int], imageFeatures: Tensor?) throws -> Tensor {
        let d = config.textConfig.hiddenSize
        let out = Tensor(zeros: [ids.count, d])
        if let bad = ids.first(where: { $0 < 0 || $0 >= config.textConfig.vocabSize }) {
            throw CheckpointError(
                location: "prompt", problems: ["token id \(bad) is outside the vocabulary (\(config.textConfig.vocabSize))"])
        }
        decoder.embed(ids, into: out)
        let imageRows = ids.indices.filter { ids[$0] == config.imageTokenID }
        let featureRows = imageFeatures.map { $0.count / d } ?? 0
        guard imageRows.count == featureRows else {
            throw CheckpointError(
                location: "prompt",
                problems: ["the prompt has \(imageRows.count) <image> tokens but the images give \(featureRows) features"])
        }
        if let imageFeatures {
            for (k, row) in imageRows.enumerated() {
                (out.floats + row * d).update(from: imageFeatures.floats + k * d, count: d)
            }
        }
        return out
    }
}

/// Reading the JSON files of a model folder with errors that name the file and the key.
enum ModelFiles {
    static func decodeJSON<T: Decodable>(_ name: String, in folder: URL) throws -> T {
        let url = folder.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CheckpointError(location: folder.path, problems: ["\(name) is missing"])
        }
        return try decode(data, file: url)
    }

    static func decodeJSONIfPresent<T: Decodable>(_ name: String, in folder: URL) throws -> T? {
        let url = folder.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        return try decode(data, file: url)
    }

    static func decode<T: Decodable>(_ data: Data, file: URL) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw CheckpointError(location: file.path, problems: [describeDecodingError(error)])
        }
    }
}
