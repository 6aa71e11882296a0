// The sampler: greedy picks the first maximum; temperature, top-k and top-p restrict the draw as transformers'
// warpers do; the repetition penalty divides positive and multiplies negative logits of seen ids, once each; a seed
// reproduces the draws.

import Testing

@testable import SmolVLM

@Suite struct SamplerTests {
    @Test func greedyTakesTheFirstMaximum() {
        var logits: [Float] = [0.5, 2, 2, -1]
        var sampler = Sampler(SamplingParameters())
        #expect(sampler.next(&logits, count: 4, context: []) == 1)
    }

    @Test func repetitionPenaltyAppliesOncePerSeenID() {
        var logits: [Float] = [2, -2, 1.9, 0]
        var sampler = Sampler(SamplingParameters(repetitionPenalty: 2))
        // id 0 seen twice: 2 / 2 = 1 (not 0.5); id 1: -2 · 2 = -4; so id 2 (1.9) wins.
        #expect(sampler.next(&logits, count: 4, context: [0, 1, 0]) == 2)
        #expect(logits == [1, -4, 1.9, 0])
    }

    @Test func topKAndTopPRestrictTheDraw() {
        for seed in 0..<50 {
            var logits: [Float] = [5, 4.9, 0, 0, 0, 0]
            var topK = Sampler(SamplingParameters(temperature: 1, topK: 2, seed: UInt64(seed)))
            #expect(topK.next(&logits, count: 6, context: []) < 2)
            var logits2: [Float] = [10, 0, 0, 0]
            var topP = Sampler(SamplingParameters(temperature: 1, topP: 0.5, seed: UInt64(seed)))
            #expect(topP.next(&logits2, count: 4, context: []) == 0)
        }
    }

    @Test func aSeedReproducesTheDraws() {
        func draws(_ seed: UInt64) -> [Int] {
            var sampler = Sampler(SamplingParameters(temperature: 1, seed: seed))
            return (0..<20).map { _ in
                var logits: [Float] = [1, 1, 1, 1, 1, 1, 1, 1]
                return sampler.next(&logits, count: 8, context: [])
            }
        }
        #expect(draws(7) == draws(7))
        #expect(draws(7) != draws(8))
        #expect(Set(draws(9)).count > 3)
    }
}
