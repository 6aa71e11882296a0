// The model side of a live session, as plain synchronous steps over state allocated once: the vision tower with
// STC-Cacher, STC-Pruner, the block KV cache with its retrieval store, and the generator. `LiveSession` (an actor on
// the compute thread) owns one and decides when each step runs; the allocation probe and the tests drive it directly.
//
//   encode(frame)          pixels [3, S, S] → vision (+cacher) → connector → pruner → kept tokens in a pool slot
//   commit(slot, time)     evict at the chunk boundary, then prefill CHUNK(t) = "Frame from mm:ss:" + kept tokens
//   prepareQuestion(…)     evict, optionally pull evicted frames back (retrieval probe + spliced view)
//   begin/step/finish      greedy decoding of a QA block, one token per step
//
// After `init` and the first frames (which create matmul primitives), encoding and committing allocate nothing but
// the token ids of the chunk's text.

import Foundation
import Kernels
import Memory
import SmolVLM
import Tokenization
import VigilCore

/// A frame encoded and waiting to be committed: its kept tokens live in pool slot `slot`.
public struct EncodedFrame: Sendable {
    public let slot: Int
    public let time: Double
    public let report: VisionFrameReport
}

/// What one generation produced.
public struct Generated: Sendable {
    public var text: String
    public var tokens: Int
    /// Seconds from `started` to the first token.
    public var ttft: Double
    public var reason: StopReason
}

/// A snapshot of the cache's layout (diagnostics and tests).
public struct CacheInspection: Sendable {
    public var blocks: [CacheBlock]
    public var sinkTokenIDs: [Int]
    /// Token ids the sink's slots were filled from, compared with what the sink holds now.
    public var sinkIntact: Bool
    public var problems: [String]
    public var computedTokens: Int
    public var appendedTokens: Int
    public var probeTokens: Int
    public var viewTokens: Int
    public var storedBlocks: Int
    public var storedTimes: [Double]
}

/// The model state of one session and its steps.
public final class StreamEngine {
    public let model: VisionLanguageModel
    public let configuration: SessionConfiguration
    public let prompt: StreamPrompt
    let context: ComputeContext
    public let vision: CachedFrameEncoder
    public let pruner: TokenPruner
    public let cache: StreamingKVCache
    let generator: TextGenerator
    let hiddenSize: Int
    public let tokensPerFrame: Int
    /// Embeddings of the block being prefilled: [maxBlockTokens (bucketed), D].
    let embeddings: Tensor
    public let maxBlockTokens: Int
    /// Encoder output of one frame [tokensPerFrame, D].
    let frameTokens: Tensor
    /// Kept tokens of encoded frames waiting to be committed (a fixed pool).
    let tokenPool: [Tensor]
    private var freeSlots: [Int]
    /// Per-layer mean queries of a retrieval probe [L, H·Hd].
    let queryMeans: Tensor
    let stopIDs: Set<Int>
    let newlineID: Int?
    /// What was committed last (a chunk after a QA block reopens the user's turn).
    public private(set) var lastCommittedKind: BlockKind = .sink
    private var sinkIDs: [Int] = []
    /// Pre-RoPE keys of the sink's first token, layer 0, head 0 (sink pinning check).
    private var sinkFingerprint: [UInt16] = []
    /// Frame-level statistics.
    public private(set) var stats = EngineStats()
    /// The ids of the chunk being committed (capacity kept from chunk to chunk).
    private var chunkIDs: [Int] = []

    /// Allocates every buffer of a session for `model` under `configuration`.
    public init(model: VisionLanguageModel, configuration: SessionConfiguration) throws {
        let problems = configuration.problems(tokensPerFrame: model.tokensPerFrame)
        if !problems.isEmpty { throw SessionError.configuration(problems) }
        self.model = model
        self.configuration = configuration
        do {
            prompt = try StreamPrompt(model: model)
        } catch {
            throw SessionError.model(error.description)
        }
        let vlm = model.model
        let decoder = vlm.decoder
        let c = decoder.config
        hiddenSize = c.hiddenSize
        tokensPerFrame = vlm.tokensPerFrame
        context = ComputeContext()
        vision = CachedFrameEncoder(model: vlm, settings: configuration.cacher)
        pruner = TokenPruner(settings: configuration.pruner, tokensPerFrame: tokensPerFrame, width: hiddenSize)
        let chunkTokens = 24 + pruner.keep  // "\nUser:\nFrame from MMMM:SS:" + wrappers + image tokens
        let visualTokens = configuration.featureMemory ? configuration.memoryPlan.blockCount * (tokensPerFrame + 16) : 0
        maxBlockTokens = max(chunkTokens, configuration.maxQuestionTokens + configuration.memoryBudget + visualTokens + 32)
        let store = RetrievalStore(
            layerCount: c.numHiddenLayers, kvHeads: c.numKeyValueHeads, headDim: c.headDim, maxTokens: chunkTokens,
            byteCap: configuration.retrievalMiB << 20)
        var budget = configuration.budget
        budget.maxPositions = min(budget.maxPositions, c.maxPositionEmbeddings)
        cache = StreamingKVCache(decoder: decoder, budget: budget, store: store)
        generator = TextGenerator(decoder: decoder, cache: cache, context: context)
        generator.reserve(tokens: maxBlockTokens)
        embeddings = Tensor(zeros: [ComputeContext.bucketedRows(maxBlockTokens), hiddenSize])
        frameTokens = Tensor(zeros: [tokensPerFrame, hiddenSize])
        let poolSize = 64
        let keptRows = max(1, pruner.keep)
        let width = c.hiddenSize
        tokenPool = (0..<poolSize).map { _ in Tensor(zeros: [keptRows, width]) }
        freeSlots = Array((0..<poolSize).reversed())
        queryMeans = Tensor(zeros: [c.numHiddenLayers, c.numAttentionHeads * c.headDim])
        stopIDs = Set(vlm.stopTokenIDs + [prompt.endOfUtteranceID])
        newlineID = model.tokenizer.id(of: "\n") ?? model.tokenizer.id(of: "Ċ")
        chunkIDs.reserveCapacity(maxBlockTokens)
    }

    // MARK: - Sink

    /// Prefills the sink: the instruction (and system prompt), pinned for the session.
    public func prefillSink() {
        precondition(cache.count == 0, "the sink goes first")
        let ids = prompt.sinkIDs(instruction: configuration.instruction, system: configuration.systemPrompt)
        sinkIDs = Array(ids.prefix(maxBlockTokens))
        cache.openBlock(.sink, time: 0)
        generator.prefill(embed(sinkIDs, images: nil))
        cache.closeBlock()
        sinkFingerprint = fingerprintOfSink()
    }

    private func fingerprintOfSink() -> [UInt16] {
        guard cache.count > 0 else { return [] }
        let d = model.model.decoder.config.headDim
        var keys = [UInt16](repeating: 0, count: d)
        var values = [UInt16](repeating: 0, count: d)
        keys.withUnsafeMutableBufferPointer { k in
            values.withUnsafeMutableBufferPointer { v in
                cache.storage.exportBF16(layer: 0, head: 0, slots: 0..<1, keys: k.baseAddress!, values: v.baseAddress!)
            }
        }
        return keys + values
    }

    // MARK: - Frames

    /// Whether a pool slot is free for another encoded frame.
    public var hasFreeSlot: Bool { !freeSlots.isEmpty }

    /// Encodes one frame into a pool slot (nil when every slot holds a frame not yet committed).
    /// `discontinuous`: the frame does not continue the previous one (start, reconnect, new size).
    public func encode(_ pixels: Tensor, time: Double, discontinuous: Bool) -> EncodedFrame? {
        guard let slot = freeSlots.popLast() else { return nil }
        if discontinuous {
            vision.reset()
            if stats.framesEncoded > 0 { pruner.reset() }
        }
        let start = DispatchTime.now()
        let report = vision.encode(pixels, into: frameTokens, context: context)
        pruner.prune(frameTokens, into: tokenPool[slot])
        stats.record(report, seconds: start.secondsElapsed, kept: pruner.keep, seen: tokensPerFrame)
        return EncodedFrame(slot: slot, time: time, report: report)
    }

    /// The kept tokens of an encoded frame not yet committed ([k, D], a view of its pool slot).
    public func tokens(of frame: EncodedFrame) -> Tensor { tokenPool[frame.slot] }

    /// Returns a slot to the pool without committing it (a dropped frame).
    public func release(_ frame: EncodedFrame) {
        freeSlots.append(frame.slot)
    }

    /// Evicts at the chunk boundary, then appends CHUNK(t) by incremental prefill; frees the slot. False when the
    /// cache had no room even after eviction (the frame is skipped).
    @discardableResult
    public func commit(_ frame: EncodedFrame) -> Bool {
        defer { freeSlots.append(frame.slot) }
        let start = DispatchTime.now()
        prompt.writeChunkIDs(
            time: frame.time, imageTokens: pruner.keep, reopensTurn: lastCommittedKind == .qa, into: &chunkIDs)
        let ids = chunkIDs
        do {
            try cache.makeRoom(for: ids.count, now: frame.time)
        } catch {
            stats.framesSkippedForRoom += 1
            return false
        }
        let rows = embed(ids, images: tokenPool[frame.slot])
        cache.openBlock(.chunk, time: frame.time)
        generator.prefill(rows)
        cache.closeBlock()
        lastCommittedKind = .chunk
        stats.framesCommitted += 1
        stats.lastCommittedTime = frame.time
        stats.prefillSeconds += start.secondsElapsed
        stats.prefillTokens += ids.count
        stats.recordKV(cache.count)
        return true
    }

    /// Token embeddings of `ids` with the `<image>` rows replaced, in order, by `images` rows.
    func embed(_ ids: [Int], images: Tensor?) -> Tensor {
        precondition(ids.count <= maxBlockTokens, "block of \(ids.count) tokens")
        let rows = embeddings.rows(0..<ids.count)
        model.model.decoder.embed(ids, into: rows)
        if let images {
            var k = 0
            let d = hiddenSize
            let image = prompt.imageTokenID
            for i in 0..<ids.count where ids[i] == image {
                (rows.floats + i * d).update(from: images.floats + k * d, count: d)
                k += 1
            }
        }
        return rows
    }

    // MARK: - Questions

    /// A question made ready to decode: room made at `askedAt`, evicted frames pulled back when asked for.
    public struct PreparedQuestion: Sendable {
        public var ids: [Int]
        /// Media times of the frames spliced back from the retrieval store.
        public var retrievedTimes: [Double]
        /// The feature memory's tokens for the question's image placeholders, in order ([n·T, D]; nil for none).
        public var images: Tensor?
    }

    /// Tokenises `text` as a question (after `context`, the memory chosen for it) and makes room for it and
    /// `maxTokens` of answer; with `retrieval`, the
    /// question's queries choose up to `retrievalBlocks` evicted frames (taken at or before `askedAt`) to splice in
    /// for this answer. Throws a sentence when the question cannot be taken.
    public func prepareQuestion(
        _ text: String, askedAt: Double, maxTokens: Int, retrieval: Bool, context: MemoryContext = .empty,
        visual: [MemoryBlock] = []
    ) throws(QuestionError) -> PreparedQuestion {
        guard prompt.questionIDs(text).count <= configuration.maxQuestionTokens else {
            let n = prompt.questionIDs(text).count
            throw QuestionError("the question is \(n) tokens long; at most \(configuration.maxQuestionTokens) are taken")
        }
        let ids = prompt.questionIDs(
            text, context: context.text, visual: visual.map { ($0.label, $0.tokens.count / hiddenSize) })
        guard ids.count <= maxBlockTokens else {
            throw QuestionError(
                "the question is \(ids.count) tokens long; at most \(configuration.maxQuestionTokens) are taken")
        }
        var images: Tensor?
        if !visual.isEmpty {
            let total = visual.reduce(0) { $0 + $1.tokens.count }
            let t = Tensor(zeros: [total / hiddenSize, hiddenSize])
            var offset = 0
            for block in visual {
                block.tokens.withUnsafeBufferPointer { (t.floats + offset).update(from: $0.baseAddress!, count: $0.count) }
                offset += block.tokens.count
            }
            images = t
        }
        let reserve = ids.count + maxTokens + 1
        do {
            try cache.makeRoom(for: reserve, now: askedAt)
        } catch {
            throw QuestionError("the question does not fit: it \(error)")
        }
        var retrieved: [Double] = []
        if retrieval && configuration.retrievalBlocks > 0 && !cache.store.blocks.isEmpty {
            // The probe is the question alone (as ReKV's): its queries choose the frames. The memory put before it
            // would only make the probe as long as the answer's own prefill (twice the time to first token).
            let probeIDs = context.text.isEmpty && visual.isEmpty ? ids : prompt.questionIDs(text)
            cache.openBlock(.view, time: askedAt)
            generator.prefill(embed(probeIDs, images: nil), queryMeans: queryMeans.floats)
            cache.discardOpenBlock()
            let picks = cache.store.bestMatches(
                queryMeans: queryMeans.floats, heads: model.model.decoder.config.numAttentionHeads,
                k: configuration.retrievalBlocks, latest: askedAt)
            retrieved = cache.spliceView(picks, reserve: reserve)
            stats.retrievedBlocks += retrieved.count
        }
        return PreparedQuestion(ids: ids, retrievedTimes: retrieved, images: images)
    }

    /// Removes a spliced retrieval view (after its answer).
    public func dropView() { cache.dropView() }

    /// The spans of the stream an answer sees: every frame in the window, and each retrieved frame.
    public func evidence(retrieved: [Double], until: Double) -> [TimeSpan] {
        let step = 1 / max(configuration.fps, 0.001)
        var spans = retrieved.map { TimeSpan(start: $0, end: $0 + step) }
        let times = cache.chunks.map(\.time)
        if let first = times.min(), let last = times.max() {
            spans.append(TimeSpan(start: first, end: max(last, min(until, last + step))))
        }
        spans.sort { $0.start < $1.start }
        var merged: [TimeSpan] = []
        for s in spans {
            if let lastSpan = merged.last, s.start <= lastSpan.end + 1e-9 {
                merged[merged.count - 1].end = max(lastSpan.end, s.end)
            } else {
                merged.append(s)
            }
        }
        return merged
    }

    // MARK: - Decoding

    /// A greedy generation in progress (one QA block).
    public struct Generation {
        var logits: Tensor
        var detokenizer: StreamingDetokenizer
        public var result: Generated
        let maxTokens: Int
        let stopAtNewline: Bool
        let started: Double
        public var isFinished = false
    }

    /// Opens a QA block at `time` with `prefix` (a question up to "Assistant:") and prefills it.
    public func beginGeneration(
        prefix: [Int], images: Tensor? = nil, time: Double, maxTokens: Int, stopAtNewline: Bool, started: Double
    ) -> Generation {
        cache.openBlock(.qa, time: time)
        let logits = generator.step(embed(prefix, images: images))
        return Generation(
            logits: logits, detokenizer: model.tokenizer.makeStreamingDetokenizer(skipSpecialTokens: true),
            result: Generated(text: "", tokens: 0, ttft: 0, reason: .maxTokens), maxTokens: maxTokens,
            stopAtNewline: stopAtNewline, started: started)
    }

    /// Chooses the next token greedily and feeds it back; returns the new text (possibly empty). Sets
    /// `isFinished` on a stop token, a newline (when asked), the token limit or a full cache.
    public func step(_ g: inout Generation) -> String {
        guard !g.isFinished else { return "" }
        let vocab = model.model.decoder.config.vocabSize
        let id = Sampler.argmax(g.logits.floats, count: vocab)
        g.result.tokens += 1
        if g.result.tokens == 1 { g.result.ttft = MonotonicClock.seconds - g.started }
        if stopIDs.contains(id) || (g.stopAtNewline && id == newlineID) {
            g.result.reason = .stopToken
            g.isFinished = true
            return g.detokenizer.finish()
        }
        var piece = g.detokenizer.append(id)
        if g.result.tokens >= g.maxTokens || cache.free < 2 {
            g.result.reason = cache.free < 2 ? .contextFull : .maxTokens
            _ = generator.step(embed([id], images: nil))
            g.isFinished = true
            piece += g.detokenizer.finish()
        } else {
            g.logits = generator.step(embed([id], images: nil))
        }
        g.result.text += piece
        return piece
    }

    /// Ends the block with `<end_of_utterance>` (so it reads as a closed turn when it ages into PREV_TEXT).
    public func finishGeneration(_ g: inout Generation, cancelled: Bool = false) -> Generated {
        if cancelled && !g.isFinished { g.result.reason = .cancelled }
        g.isFinished = true
        if cache.free > 0 { _ = generator.step(embed([prompt.endOfUtteranceID], images: nil)) }
        cache.closeBlock()
        lastCommittedKind = .qa
        stats.answerTokens += g.result.tokens
        return g.result
    }

    // MARK: - Inspection

    /// The cache's layout and its invariants now.
    public func inspect() -> CacheInspection {
        CacheInspection(
            blocks: cache.blocks, sinkTokenIDs: sinkIDs,
            sinkIntact: cache.blocks.first?.kind == .sink && cache.blocks.first?.count == sinkIDs.count
                && fingerprintOfSink() == sinkFingerprint,
            problems: cache.validate(), computedTokens: cache.storage.computedTokens,
            appendedTokens: cache.appendedTokens, probeTokens: cache.probeTokens, viewTokens: cache.viewTokens,
            storedBlocks: cache.store.blocks.count, storedTimes: cache.store.blocks.map(\.time))
    }
}

/// Why a question cannot be answered.
public struct QuestionError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Frame-level statistics of an engine.
public struct EngineStats: Sendable, Equatable {
    public var framesEncoded = 0
    public var framesCommitted = 0
    public var framesSkippedForRoom = 0
    public var referenceFrames = 0
    public var visionSeconds = 0.0
    public var visionFLOPs = 0.0
    public var visionFullFLOPs = 0.0
    /// Vision seconds and frames after the first two (which create primitives and fault memory in).
    public var visionSecondsSteady = 0.0
    public var framesSteady = 0
    public var tokensKept = 0
    public var tokensSeen = 0
    public var prefillSeconds = 0.0
    public var prefillTokens = 0
    public var lastCommittedTime: Double?
    public var retrievedBlocks = 0
    public var answerTokens = 0
    /// KV tokens after each commit: extremes and mean, from the 120th commit on (C1's steady state).
    public var kvMaxEver = 0
    public var kvSteadyMin = Int.max
    public var kvSteadyMax = 0
    public var kvSteadySum = 0
    public var kvSteadyCount = 0

    mutating func record(_ report: VisionFrameReport, seconds: Double, kept: Int, seen: Int) {
        framesEncoded += 1
        visionSeconds += seconds
        visionFLOPs += report.flops
        visionFullFLOPs += report.fullFLOPs
        if report.isReference { referenceFrames += 1 }
        if framesEncoded > 2 {
            visionSecondsSteady += seconds
            framesSteady += 1
        }
        tokensKept += kept
        tokensSeen += seen
    }

    mutating func recordKV(_ tokens: Int) {
        kvMaxEver = max(kvMaxEver, tokens)
        guard framesCommitted >= 120 else { return }
        kvSteadyMin = min(kvSteadyMin, tokens)
        kvSteadyMax = max(kvSteadyMax, tokens)
        kvSteadySum += tokens
        kvSteadyCount += 1
    }

    /// Share of vision FLOPs the cacher saved.
    public var visionFLOPsSaved: Double { visionFullFLOPs > 0 ? 1 - visionFLOPs / visionFullFLOPs : 0 }

    /// Mean vision seconds per frame after warm-up.
    public var visionSecondsPerFrame: Double {
        framesSteady > 0 ? visionSecondsSteady / Double(framesSteady)
            : (framesEncoded > 0 ? visionSeconds / Double(framesEncoded) : 0)
    }

    /// Mean KV tokens in the steady state.
    public var kvSteadyMean: Double? { kvSteadyCount > 0 ? Double(kvSteadySum) / Double(kvSteadyCount) : nil }
}
