// Stage-by-stage parity of the fp32 runtime with Hugging Face transformers 5.24 on the tiny random checkpoints of
// Tests/Fixtures/smolvlm (see its README for how the goldens were made): vision embeddings, every vision layer,
// post-LN, pixel shuffle, connector, merged embeddings, every decoder layer, final norm, logits, and the greedy
// continuation with the logits of every KV-cached step. Tolerance: 1e-4 max abs difference (issue #3); the
// observed differences are ~1e-6 (A) and ~1e-5 (B, whose logits reach ~16).

import Foundation
import Kernels
import Testing
import TestSupport

@testable import SmolVLM

/// A golden case: its tensors and its JSON side file.
struct GoldenCase {
    let name: String
    let tensors: SafeTensorsFile
    let info: [String: Any]

    init(checkpoint: String, name: String) throws {
        self.name = name
        let base = Fixtures.url("smolvlm/\(checkpoint)/golden/\(name)")
        tensors = try SafeTensorsFile(url: base.appendingPathExtension("safetensors"))
        let data = try Data(contentsOf: base.appendingPathExtension("json"))
        info = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    func floats(_ name: String) -> [Float] {
        guard let t = tensors.floatTensor(name) else {
            Issue.record("golden \(self.name) has no tensor \(name)")
            return []
        }
        return t.toArray()
    }

    func has(_ name: String) -> Bool { tensors.entries[name] != nil }

    func ints(_ name: String) -> [Int] { tensors.integers(name) ?? [] }
}

@Suite struct ParityTests {
    static let cases = ["image_split", "image_portrait", "image_tiny", "image_nosplit", "video"]
    static let tolerance: Float = 1e-4

    static func load(_ checkpoint: String) throws -> SmolVLMModel {
        try SmolVLMModel.load(from: Fixtures.url("smolvlm/\(checkpoint)"))
    }

    /// Records the largest difference per traced tensor name (frames concatenated in order).
    final class Recorder {
        var values: [String: [Float]] = [:]
        func sink(_ name: String, _ t: Tensor) {
            let base = name.split(separator: "#").first.map(String.init) ?? name
            values[base, default: []] += t.toArray()
        }
    }

    func check(_ name: String, _ actual: [Float], _ golden: GoldenCase, tolerance: Float = ParityTests.tolerance) {
        let expected = golden.floats(name)
        let diff = maxAbsDifference(actual, expected)
        #expect(diff < tolerance, "\(golden.name) \(name): max abs difference \(diff) (\(actual.count) vs \(expected.count) values)")
    }

    @Test(arguments: ["tiny", "tiny-realtok"], cases)
    func everyStageMatchesTransformers(checkpoint: String, caseName: String) throws {
        let model = try Self.load(checkpoint)
        let golden = try GoldenCase(checkpoint: checkpoint, name: caseName)
        let context = ComputeContext()
        let recorder = Recorder()

        // Vision tower and connector on the golden pixels.
        let pixels = try #require(golden.tensors.floatTensor("pixel_values"))
        let frames = pixels.shape[0]
        let d = model.config.textConfig.hiddenSize
        let features = Tensor(zeros: [frames * model.tokensPerFrame, d])
        FrameEncoder(model: model).encode(pixels, into: features, context: context, trace: recorder.sink)
        for i in 0..<model.config.visionConfig.numHiddenLayers {
            check("vision.layer.\(i)", recorder.values["vision.layer.\(i)"] ?? [], golden)
        }
        for name in ["vision.embeddings", "vision.post_layernorm", "connector.pixel_shuffle", "connector.output"] {
            check(name, recorder.values[name] ?? [], golden)
        }

        // Decoder over the merged prompt.
        let ids = golden.ints("input_ids")
        let embeddings = try model.inputEmbeddings(ids: ids, imageFeatures: features)
        check("text.inputs_embeds", embeddings.toArray(), golden)
        let generator = TextGenerator(decoder: model.decoder, capacity: ids.count + 32, context: context)
        let logits = generator.allLogits(embeddings, trace: recorder.sink)
        for i in 0..<model.config.textConfig.numHiddenLayers {
            check("text.layer.\(i)", recorder.values["text.layer.\(i)"] ?? [], golden)
        }
        check("text.norm", recorder.values["text.norm"] ?? [], golden)
        let all = logits.toArray()
        let vocab = model.config.textConfig.vocabSize
        check("logits.last", Array(all[((ids.count - 1) * vocab)...]), golden)
        if golden.has("logits") { check("logits", all, golden) }
    }

    @Test(arguments: ["tiny", "tiny-realtok"], cases)
    func greedyContinuationMatchesTransformers(checkpoint: String, caseName: String) throws {
        let model = try Self.load(checkpoint)
        let golden = try GoldenCase(checkpoint: checkpoint, name: caseName)
        let context = ComputeContext()
        let pixels = try #require(golden.tensors.floatTensor("pixel_values"))
        let features = Tensor(zeros: [pixels.shape[0] * model.tokensPerFrame, model.config.textConfig.hiddenSize])
        FrameEncoder(model: model).encode(pixels, into: features, context: context)
        let ids = golden.ints("input_ids")
        let expected = golden.ints("greedy.ids")
        let generator = TextGenerator(decoder: model.decoder, capacity: ids.count + expected.count + 1, context: context)
        var stepLogits: [[Float]] = []
        let result = generator.generate(
            promptEmbeddings: try model.inputEmbeddings(ids: ids, imageFeatures: features), promptIDs: ids,
            maxNewTokens: expected.count, stopTokenIDs: Set(model.stopTokenIDs), sampling: SamplingParameters(),
            onLogits: { stepLogits.append($0.toArray()) }, onToken: { _ in true })
        #expect(result.tokens == expected)
        let vocab = model.config.textConfig.vocabSize
        if golden.has("greedy.step_logits") {
            check("greedy.step_logits", stepLogits.flatMap { $0 }, golden)
        } else {
            // B: the top-8 logits of every step.
            let topIDs = golden.ints("greedy.top_ids")
            let topLogits = golden.floats("greedy.top_logits")
            for (step, row) in stepLogits.enumerated() where row.count == vocab {
                for k in 0..<8 {
                    let diff = abs(row[topIDs[step * 8 + k]] - topLogits[step * 8 + k])
                    #expect(diff < Self.tolerance, "step \(step) top-\(k): \(diff)")
                }
            }
        }
    }
}
