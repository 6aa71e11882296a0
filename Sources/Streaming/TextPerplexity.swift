// Perplexity of a long text through three ways of bounding the context, on the same scored tokens (tokens 1 … N−1,
// each predicted from what precedes it):
//   oracle     sliding-window recompute: windows of `window` tokens every `stride` tokens, each computed from
//              scratch; a window scores the tokens that are new in it (every token sees ≥ window − stride context)
//   streaming  one pass through a SinkWindowCache of `window` positions, `chunk` tokens at a time: the first `sink`
//              tokens pinned, the oldest others evicted, positions kept contiguous (StreamingLLM with pos_shift)
//   window     the same with no sink (the sliding window StreamingLLM shows falling apart once tokens are evicted)
// `vigil bench --stream-text` reports all three on real weights (the SmolLM2 GGUF).

import Foundation
import Kernels
import SmolVLM

/// Perplexity measurements of a decoder on a token sequence.
public enum TextPerplexity {
    /// The outcome of one method.
    public struct Result: Sendable {
        public var scoredTokens: Int
        public var negativeLogLikelihood: Double
        public var seconds: Double
        /// Tokens computed (prefilled), counting recomputation.
        public var computedTokens: Int
        public var perplexity: Double { exp(negativeLogLikelihood / Double(max(1, scoredTokens))) }
    }

    /// Sliding-window recompute at `stride` (the oracle).
    public static func slidingWindow(
        decoder: LlamaDecoder, ids: [Int], window: Int, stride: Int, context: ComputeContext = ComputeContext()
    ) -> Result {
        precondition(window >= 2 && stride >= 1 && stride <= window, "bad window/stride")
        let start = DispatchTime.now()
        var nll = 0.0
        var scored = 0
        var computed = 0
        var previousEnd = 1  // tokens before this are scored already (token 0 has nothing to be predicted from)
        let generator = TextGenerator(decoder: decoder, capacity: window, context: context)
        let vocab = decoder.config.vocabSize
        for begin in Swift.stride(from: 0, to: ids.count, by: stride) {
            let end = min(begin + window, ids.count)
            generator.cache.storage.reset()
            let logits = generator.allLogits(embed(Array(ids[begin..<end]), decoder))
            computed += end - begin
            for t in max(previousEnd, begin + 1)..<max(end, max(previousEnd, begin + 1)) {
                nll += RowOps.negativeLogLikelihood(logits.floats + (t - 1 - begin) * vocab, vocabulary: vocab, target: ids[t])
                scored += 1
            }
            previousEnd = max(previousEnd, end)
            if end == ids.count { break }
        }
        return Result(scoredTokens: scored, negativeLogLikelihood: nll, seconds: start.secondsElapsed, computedTokens: computed)
    }

    /// One streaming pass through a sink + window cache of `window` positions.
    public static func streaming(
        decoder: LlamaDecoder, ids: [Int], window: Int, sink: Int, chunk: Int, context: ComputeContext = ComputeContext()
    ) -> (result: Result, evicted: Int) {
        precondition(chunk >= 1 && chunk < window - sink, "the chunk must fit beside the sink")
        let start = DispatchTime.now()
        let cache = SinkWindowCache(decoder: decoder, capacity: window, sink: sink)
        let generator = TextGenerator(decoder: decoder, cache: cache, context: context)
        let vocab = decoder.config.vocabSize
        var nll = 0.0
        var scored = 0
        var position = 0
        while position < ids.count - 1 {
            let end = min(position + chunk, ids.count - 1)
            cache.makeRoom(for: end - position)
            let logits = generator.allLogits(embed(Array(ids[position..<end]), decoder))
            for t in position..<end {
                nll += RowOps.negativeLogLikelihood(logits.floats + (t - position) * vocab, vocabulary: vocab, target: ids[t + 1])
                scored += 1
            }
            position = end
        }
        let result = Result(
            scoredTokens: scored, negativeLogLikelihood: nll, seconds: start.secondsElapsed,
            computedTokens: cache.storage.computedTokens)
        return (result, cache.evicted)
    }

    private static func embed(_ ids: [Int], _ decoder: LlamaDecoder) -> Tensor {
        let t = Tensor(zeros: [ComputeContext.bucketedRows(ids.count), decoder.config.hiddenSize])
        let rows = t.rows(0..<ids.count)
        decoder.embed(ids, into: rows)
        return rows
    }
}
