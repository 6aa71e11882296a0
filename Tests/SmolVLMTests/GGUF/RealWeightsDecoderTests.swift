// The decoder, tokenizer and greedy sampling on real pretrained weights: SmolLM2-135M-Instruct (Q4_1 GGUF) against
// transformers 5.24 running the same file (Tests/Fixtures/gguf/smollm2_goldens.json). For each chat prompt, 32
// steps with the golden ids fed back (teacher forcing): the top-5 logits within 1e-3, and our greedy choice equal
// to the reference's wherever its top-1/top-2 margin exceeds 1e-3. Skipped without the file, except in CI.

import Foundation
import Kernels
import Testing
import Tokenization

@testable import SmolVLM

@Suite(.enabled(if: RealGGUF.shouldRun, RealGGUF.skipNote), .serialized, .holdingSerialLock)
struct RealWeightsDecoderTests {
    static let model = Result { try TextLanguageModel.load(gguf: RealGGUF.url) }

    struct Step: Decodable {
        let top_ids: [Int]
        let top_logits: [Double]
    }

    struct PromptSteps: Decodable {
        let prompt_ids: [Int]
        let greedy_ids: [Int]
        let steps: [Step]
    }

    struct File: Decodable { let prompts: [PromptSteps] }

    static func goldenSteps() throws -> [PromptSteps] {
        try JSONDecoder().decode(File.self, from: Data(contentsOf: RealGGUF.goldensURL)).prompts
    }

    @Test func promptsTokenizeAsTransformers() throws {
        _ = try RealGGUF.require()
        let model = try Self.model.get()
        for prompt in try RealGGUF.goldens().prompts {
            let text = try model.chatPrompt(user: prompt.messages.last!.content)
            if prompt.messages.count == 1 { #expect(text == prompt.prompt) }
            #expect(model.tokenizer.encode(prompt.prompt) == prompt.prompt_ids)
        }
    }

    @Test func logitsAndGreedyChoicesMatchTransformers() throws {
        _ = try RealGGUF.require()
        let model = try Self.model.get()
        let context = ComputeContext()
        var worst: Float = 0
        for prompt in try Self.goldenSteps() {
            let generator = TextGenerator(
                decoder: model.decoder, capacity: prompt.prompt_ids.count + prompt.greedy_ids.count + 1, context: context)
            let embeddings = Tensor(zeros: [prompt.prompt_ids.count, model.decoder.config.hiddenSize])
            model.decoder.embed(prompt.prompt_ids, into: embeddings)
            var logits = generator.step(embeddings)
            let one = Tensor(zeros: [1, model.decoder.config.hiddenSize])
            for (n, step) in prompt.steps.enumerated() {
                for (id, expected) in zip(step.top_ids, step.top_logits) {
                    let diff = abs(logits.floats[id] - Float(expected))
                    worst = max(worst, diff)
                    #expect(diff < 1e-3, "step \(n) id \(id): \(logits.floats[id]) vs \(expected)")
                }
                if step.top_logits[0] - step.top_logits[1] > 1e-3 {
                    #expect(Sampler.argmax(logits.floats, count: model.decoder.config.vocabSize) == prompt.greedy_ids[n], "step \(n)")
                }
                model.decoder.embed([prompt.greedy_ids[n]], into: one)
                logits = generator.step(one)
            }
        }
        print("real-weights decoder: worst top-5 logit difference \(worst)")
    }

    @Test func capitalOfFranceIsParis() throws {
        _ = try RealGGUF.require()
        let model = try Self.model.get()
        let text = try model.chatPrompt(user: "What is the capital of France?")
        let ids = model.tokenizer.encode(text)
        let generator = TextGenerator(decoder: model.decoder, capacity: ids.count + 16)
        let embeddings = Tensor(zeros: [ids.count, model.decoder.config.hiddenSize])
        model.decoder.embed(ids, into: embeddings)
        let result = generator.generate(
            promptEmbeddings: embeddings, promptIDs: ids, maxNewTokens: 16, stopTokenIDs: Set(model.stopTokenIDs),
            sampling: SamplingParameters(), onToken: { _ in true })
        #expect(model.tokenizer.decode(result.tokens, skipSpecialTokens: true) == "The capital of France is Paris.")
        #expect(result.stopReason == .stopToken)
    }
}
