// The faster precisions against the fp32 reference on the tiny checkpoints: the fused decode step with f32
// weights must equal the reference decode (same maths, other kernels), and bf16 / int8 must stay close (logits
// cosine ≥ 0.999, the accuracy guard of issue #5 for fixtures).

import Foundation
import Kernels
import Testing
import TestSupport

@testable import SmolVLM

@Suite struct PrecisionTests {
    /// Greedy-decodes 12 tokens after a golden prompt and returns every step's logits.
    static func stepLogits(_ model: SmolVLMModel, caseName: String, checkpoint: String, steps: Int = 12) throws -> (ids: [Int], logits: [[Float]]) {
        let golden = try GoldenCase(checkpoint: checkpoint, name: caseName)
        let context = ComputeContext()
        let ids = golden.ints("input_ids")
        let generator = TextGenerator(decoder: model.decoder, capacity: ids.count + steps + 1, context: context)
        var logits: [[Float]] = []
        let result = generator.generate(
            promptEmbeddings: try model.promptEmbeddings(ids: ids, frames: try golden.pixelValues(), context: context),
            promptIDs: ids,
            maxNewTokens: steps, stopTokenIDs: [], sampling: SamplingParameters(),
            onLogits: { logits.append($0.toArray()) }, onToken: { _ in true })
        return (result.tokens, logits)
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for i in a.indices {
            dot += Double(a[i]) * Double(b[i])
            na += Double(a[i]) * Double(a[i])
            nb += Double(b[i]) * Double(b[i])
        }
        return dot / (na.squareRoot() * nb.squareRoot())
    }

    @Test(arguments: ["tiny", "tiny-realtok"])
    func fusedF32DecodeEqualsReference(checkpoint: String) throws {
        let model = try SmolVLMModel.load(from: Fixtures.url("smolvlm/\(checkpoint)"))
        var fused = model
        fused.decoder.fusedDecode = model.decoder.fusedDecodeWeights(.f32)
        #expect(fused.decoder.fusedDecode != nil)
        let reference = try Self.stepLogits(model, caseName: "image_split", checkpoint: checkpoint)
        let fast = try Self.stepLogits(fused, caseName: "image_split", checkpoint: checkpoint)
        #expect(fast.ids == reference.ids)
        for (a, b) in zip(fast.logits, reference.logits) {
            #expect(maxAbsDifference(a, b) < 1e-4)
        }
    }

    @Test(arguments: ["tiny", "tiny-realtok"], [Precision.bf16, .int8, .auto])
    func fasterPrecisionsStayClose(checkpoint: String, precision: Precision) throws {
        let model = try SmolVLMModel.load(from: Fixtures.url("smolvlm/\(checkpoint)"))
        let reference = try Self.stepLogits(model, caseName: "video", checkpoint: checkpoint)
        let fast = try Self.stepLogits(model.prepared(for: precision), caseName: "video", checkpoint: checkpoint)
        // Compare the logits each mode produced for the same context: the first step shares the prompt exactly;
        // later steps share it as long as the chosen ids agree.
        for (step, (a, b)) in zip(fast.logits, reference.logits).enumerated() {
            if step > 0 && fast.ids[..<step] != reference.ids[..<step] { break }
            let c = Self.cosine(a, b)
            #expect(c >= 0.999, "\(checkpoint) \(precision) step \(step): cosine \(c)")
        }
    }
}
