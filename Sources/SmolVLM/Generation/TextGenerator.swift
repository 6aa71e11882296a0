// Autoregressive generation on a decoder: prefill the prompt in one pass (logits of the last position only), then
// one token per step with the KV cache, streaming each token as it is chosen. Stops on a stop id, at the token
// limit, when the cache is full, or when the caller asks to stop.

import Foundation
import Kernels
import VigilCore

/// Why generation ended.
public enum StopReason: String, Sendable {
    /// A stop token (eos) was produced; it is the last of `tokens`.
    case stopToken = "stop_token"
    /// `maxNewTokens` reached.
    case maxTokens = "max_tokens"
    /// The KV cache has no room for another token.
    case contextFull = "context_full"
    /// The caller's callback asked to stop.
    case cancelled
}

/// The outcome of one generation.
public struct GenerationResult: Sendable {
    public var promptTokens: Int
    /// Generated ids, including the stop token if one was produced.
    public var tokens: [Int]
    public var stopReason: StopReason
    /// Seconds spent in the prefill (prompt) pass.
    public var prefillSeconds: Double
    /// Seconds from the start to the first generated token.
    public var timeToFirstToken: Double
    /// Seconds spent producing tokens after the first.
    public var decodeSeconds: Double
}

/// A decoder with its per-stream state: KV cache, workspaces, compute context.
public final class TextGenerator {
    public let decoder: LlamaDecoder
    public let cache: KVCache
    let workspace: DecoderWorkspace
    public let context: ComputeContext
    private var logitsBuffer: Tensor
    /// The fused single-token step, when the decoder's precision has one.
    private let fused: FusedDecodeState?
    private let fusedInput: Tensor
    /// Positions of the tokens of one call (capacity slots, so no call allocates).
    private let positionBuffer: UnsafeMutablePointer<Int32>
    /// The fused step's logits seen as [1, V].
    private let fusedLogits: Tensor

    /// State for a context of `capacity` tokens (prompt + generated).
    public init(decoder: LlamaDecoder, capacity: Int, context: ComputeContext = ComputeContext()) {
        self.decoder = decoder
        let cache = decoder.makeCache(capacity: capacity)
        self.cache = cache
        workspace = decoder.makeWorkspace()
        self.context = context
        logitsBuffer = Tensor(zeros: [1, decoder.config.vocabSize])
        fused = decoder.fusedDecode.map {
            FusedDecodeState(weights: $0, keyCaches: cache.keys, valueCaches: cache.values, capacity: capacity)
        }
        fusedInput = Tensor(zeros: [decoder.config.hiddenSize])
        positionBuffer = .allocate(capacity: max(1, capacity))
        fusedLogits = fused.map { $0.logits.reshaped([1, decoder.config.vocabSize]) } ?? Tensor(zeros: [0])
    }

    deinit { positionBuffer.deallocate() }

    /// Positions start ..< start + t in the preallocated buffer.
    private func positions(from start: Int, count t: Int) -> UnsafeBufferPointer<Int32> {
        precondition(t <= cache.capacity, "decoder: more tokens than the cache holds")
        for i in 0..<t { positionBuffer[i] = Int32(start + i) }
        return UnsafeBufferPointer(start: positionBuffer, count: t)
    }

    /// Runs `embeddings` [T, D] at the next positions and returns the logits of the last one (a view, valid until
    /// the next call). A single token goes through the fused decode step when the precision has one.
    public func step(_ embeddings: Tensor, trace: TraceSink? = nil) -> Tensor {
        let t = embeddings.count / decoder.config.hiddenSize
        let start = cache.count
        if t == 1, trace == nil, let fused {
            precondition(cache.remaining > 0, "decoder: KV cache full")
            fusedInput.copy(from: embeddings)
            _ = fused.step(fusedInput, position: start, slot: start)
            cache.commit(position: Int32(start))
            return fusedLogits
        }
        let hidden = decoder.forward(
            embeddings, positions: positions(from: start, count: t), cache: cache, workspace: workspace,
            context: context, trace: trace)
        decoder.logits(hidden.rows(t - 1..<t), into: logitsBuffer, context: context)
        return logitsBuffer
    }

    /// Logits [T, V] of every prompt position (for parity tests; generation only needs the last).
    public func allLogits(_ embeddings: Tensor, trace: TraceSink? = nil) -> Tensor {
        let t = embeddings.count / decoder.config.hiddenSize
        let start = cache.count
        let hidden = decoder.forward(
            embeddings, positions: positions(from: start, count: t), cache: cache, workspace: workspace,
            context: context, trace: trace)
        let out = Tensor(zeros: [t, decoder.config.vocabSize])
        decoder.logits(hidden, into: out, context: context)
        return out
    }

    /// Generates after a prompt given as embeddings [T, D] (text and image features merged) with ids `promptIDs`
    /// (for the repetition penalty). `onToken` receives each new id and returns false to stop; `onLogits` sees the
    /// logits each token was chosen from.
    public func generate(
        promptEmbeddings: Tensor, promptIDs: [Int], maxNewTokens: Int, stopTokenIDs: Set<Int>,
        sampling: SamplingParameters, onLogits: ((Tensor) -> Void)? = nil, onToken: (Int) -> Bool
    ) -> GenerationResult {
        let start = DispatchTime.now()
        var sampler = Sampler(sampling)
        var history = promptIDs
        history.reserveCapacity(promptIDs.count + maxNewTokens)
        var tokens: [Int] = []
        tokens.reserveCapacity(maxNewTokens)
        let vocab = decoder.config.vocabSize
        var logits = step(promptEmbeddings)
        let prefillSeconds = start.secondsElapsed
        var ttft = 0.0
        var firstTokenTime = DispatchTime.now()
        var reason = StopReason.maxTokens
        let embedding = Tensor(zeros: [1, decoder.config.hiddenSize])
        while tokens.count < maxNewTokens {
            onLogits?(logits)
            let id = sampler.next(logits.floats, count: vocab, context: history)
            tokens.append(id)
            history.append(id)
            if tokens.count == 1 {
                ttft = start.secondsElapsed
                firstTokenTime = DispatchTime.now()
            }
            if !onToken(id) {
                reason = .cancelled
                break
            }
            if stopTokenIDs.contains(id) {
                reason = .stopToken
                break
            }
            if tokens.count == maxNewTokens { break }
            if cache.remaining == 0 {
                reason = .contextFull
                break
            }
            decoder.embed([id], into: embedding)
            logits = step(embedding)
        }
        let decodeSeconds = tokens.isEmpty ? 0 : firstTokenTime.secondsElapsed
        return GenerationResult(
            promptTokens: promptIDs.count, tokens: tokens, stopReason: reason, prefillSeconds: prefillSeconds,
            timeToFirstToken: ttft, decodeSeconds: decodeSeconds)
    }
}
