// Choosing the next token from logits, in transformers' order: repetition penalty, then temperature, top-k,
// top-p, softmax and a draw. Temperature 0 is greedy (argmax, first index on ties, like torch.argmax).
// Draws come from a seeded SplitMix64 generator, so a seed reproduces a run (not PyTorch's random stream).

import Foundation
import Kernels

/// How to pick tokens.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 = greedy.
    public var temperature: Double = 0
    /// Keep only the k most likely tokens (0 = off).
    public var topK: Int = 0
    /// Keep the smallest set of tokens whose probabilities reach p (1 = off).
    public var topP: Double = 1
    /// > 1 discourages tokens already in the context (1 = off), as transformers' RepetitionPenaltyLogitsProcessor.
    public var repetitionPenalty: Double = 1
    /// Seed of the draws; nil = a random seed.
    public var seed: UInt64?

    public init(temperature: Double = 0, topK: Int = 0, topP: Double = 1, repetitionPenalty: Double = 1, seed: UInt64? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }
}

/// A seeded token sampler (one per generation).
public struct Sampler {
    public let parameters: SamplingParameters
    private var state: UInt64
    // Buffers reused from token to token (no allocation per token once they have grown).
    private var scratch: [(id: Int, value: Float)] = []
    private var probabilities: [Double] = []
    private var penalized: [Bool] = []

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        state = parameters.seed ?? UInt64.random(in: .min ... .max)
    }

    /// SplitMix64.
    private mutating func nextRandom() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }

    /// The index of the largest value (first on ties).
    public static func argmax(_ logits: UnsafePointer<Float>, count: Int) -> Int {
        Ops.topTwo(logits, count: count).best
    }

    /// Picks the next token. `logits` may be modified (penalty, temperature). `context` = ids seen so far.
    public mutating func next(_ logits: UnsafeMutablePointer<Float>, count: Int, context: [Int]) -> Int {
        let p = parameters
        if p.repetitionPenalty != 1 {
            // Each id seen in the context is penalised once (transformers gathers the unique ids).
            let penalty = Float(p.repetitionPenalty)
            if penalized.count < count { penalized = [Bool](repeating: false, count: count) }
            for id in context where id >= 0 && id < count && !penalized[id] {
                penalized[id] = true
                logits[id] = logits[id] < 0 ? logits[id] * penalty : logits[id] / penalty
            }
            for id in context where id >= 0 && id < count { penalized[id] = false }
        }
        if p.temperature <= 0 { return Self.argmax(logits, count: count) }
        let invT = Float(1 / p.temperature)
        scratch.removeAll(keepingCapacity: true)
        for i in 0..<count { scratch.append((i, logits[i] * invT)) }
        scratch.sort { $0.value > $1.value }
        var keep = scratch.count
        if p.topK > 0 { keep = min(keep, p.topK) }
        // Softmax over the kept candidates (max-subtracted), then the top-p cut on the sorted probabilities.
        let maxValue = scratch[0].value
        probabilities.removeAll(keepingCapacity: true)
        var sum = 0.0
        for i in 0..<keep {
            let e = Double(exp(scratch[i].value - maxValue))
            probabilities.append(e)
            sum += e
        }
        if p.topP < 1 {
            var cumulative = 0.0
            var cut = keep
            for i in 0..<keep {
                cumulative += probabilities[i] / sum
                if cumulative >= p.topP {
                    cut = i + 1
                    break
                }
            }
            keep = cut
            sum = 0
            for i in 0..<keep { sum += probabilities[i] }
        }
        var r = nextRandom() * sum
        for i in 0..<keep {
            r -= probabilities[i]
            if r <= 0 { return scratch[i].id }
        }
        return scratch[keep - 1].id
    }
}
