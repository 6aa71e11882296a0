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

/// A decoder with its per-stream state: a KV cache (flat, or a streaming block cache), workspaces, compute context.
public final class TextGenerator {
    public let decoder: LlamaDecoder
    /// Where tokens go and which positions they take.
    public let cache: any DecoderCache
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

    /// State for a flat context of `capacity` tokens (prompt + generated).
    public convenience init(decoder: LlamaDecoder, capacity: Int, context: ComputeContext = ComputeContext()) {
        self.init(decoder: decoder, cache: decoder.makeCache(capacity: capacity), context: context)
    }

    /// State over an existing cache (made by `decoder.makeCache`).
    public init(decoder: LlamaDecoder, cache: any DecoderCache, context: ComputeContext = ComputeContext()) {
        self.decoder = decoder
        self.cache = cache
        let storage = cache.storage
        workspace = decoder.makeWorkspace()
        self.context = context
        logitsBuffer = Tensor(zeros: [1, decoder.config.vocabSize])
        let bindings = storage.fusedBindings
        fused = decoder.fusedDecode.map {
            FusedDecodeState(
                weights: $0, keyCaches: bindings.map(\.keys), valueCaches: bindings.map(\.values),
                preRoPEKeys: storage.keepsPreRoPEKeys ? bindings.map { $0.preRoPEKeys! } : nil,
                capacity: storage.capacity)
        }
        fusedInput = Tensor(zeros: [decoder.config.hiddenSize])
        positionBuffer = .allocate(capacity: max(1, storage.capacity))
        fusedLogits = fused.map { $0.logits.reshaped([1, decoder.config.vocabSize]) } ?? Tensor(zeros: [0])
    }

    deinit { positionBuffer.deallocate() }

    /// Free slots in the cache.
    public var remaining: Int { cache.storage.remaining }

    /// Makes room now for calls of up to `tokens` tokens attending to a full cache, so none allocates later.
    public func reserve(tokens: Int) {
        workspace.reserve(tokens)
        let c = decoder.config
        context.reserve(
            attentionKeys: cache.storage.capacity, kvHeads: c.numKeyValueHeads, headDim: c.headDim,
            matmulInputElements: ComputeContext.bucketedRows(tokens) * max(c.intermediateSize, c.hiddenSize))
    }

    /// Positions start ..< start + t in the preallocated buffer.
    private func positions(from start: Int, count t: Int) -> UnsafeBufferPointer<Int32> {
        precondition(t <= cache.storage.capacity, "decoder: more tokens than the cache holds")
        for i in 0..<t { positionBuffer[i] = Int32(start + i) }
        return UnsafeBufferPointer(start: positionBuffer, count: t)
    }

    /// Runs `embeddings` [T, D] at the next positions and returns the logits of the last one (a view, valid until
    /// the next call). A single token goes through the fused decode step when the precision has one. The cache must
    /// have room for T tokens (`remaining`).
    public func step(_ embeddings: Tensor, trace: TraceSink? = nil) -> Tensor {
        let t = embeddings.count / decoder.config.hiddenSize
        let storage = cache.storage
        let position = cache.nextPosition
        if t == 1, trace == nil, let fused {
            precondition(storage.remaining > 0, "decoder: KV cache full (the caller checks room first)")
            fusedInput.copy(from: embeddings)
            _ = fused.step(fusedInput, position: position, slot: storage.count)
            storage.commit(position: Int32(position))
            return fusedLogits
        }
        let hidden = decoder.forward(
            embeddings, positions: positions(from: position, count: t), cache: cache, workspace: workspace,
            context: context, trace: trace)
        decoder.logits(hidden.rows(t - 1..<t), into: logitsBuffer, context: context)
        return logitsBuffer
    }

    /// Appends `embeddings` [T, D] to the cache without computing logits (a prompt chunk nobody samples after).
    /// `queryMeans` receives per-layer mean pre-RoPE queries (see `LlamaDecoder.forward`).
    public func prefill(_ embeddings: Tensor, queryMeans: UnsafeMutablePointer<Float>? = nil) {
        let t = embeddings.count / decoder.config.hiddenSize
        guard t > 0 else { return }
        _ = decoder.forward(
            embeddings, positions: positions(from: cache.nextPosition, count: t), cache: cache,
            workspace: workspace, context: context, queryMeans: queryMeans)
    }

    /// Logits [T, V] of every prompt position (for parity tests; generation only needs the last).
    public func allLogits(_ embeddings: Tensor, trace: TraceSink? = nil) -> Tensor {
        let t = embeddings.count / decoder.config.hiddenSize
        let hidden = decoder.forward(
            embeddings, positions: positions(from: cache.nextPosition, count: t), cache: cache, workspace: workspace,
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
        let promptCount = promptEmbeddings.count / decoder.config.hiddenSize
        guard promptCount <= remaining else {
            return GenerationResult(
                promptTokens: promptIDs.count, tokens: [], stopReason: .contextFull, prefillSeconds: 0,
                timeToFirstToken: 0, decodeSeconds: 0)
        }
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
            if remaining == 0 {
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
