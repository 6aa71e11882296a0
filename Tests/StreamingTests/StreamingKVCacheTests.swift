// The block cache's arithmetic (streaming brief C4, C5, C14 and the bit-compatibility promise): prefilling A then B
// equals prefilling A+B; evicting a middle block and re-positioning the survivors gives the logits of a fresh
// rotation of the same K/V; rotations compose; positions stay contiguous under any eviction sequence; with nothing
// evicted, the block cache generates exactly what the flat cache does.

import Foundation
import Kernels
@testable import SmolVLM
@testable import Streaming
import Testing
import TestSupport

@Suite struct StreamingKVCacheTests {
    static let model: SmolVLMModel = try! SmolVLMModel.load(from: Fixtures.url("smolvlm/tiny"))

    static func embeddings(_ ids: [Int], _ decoder: LlamaDecoder) -> Tensor {
        let t = Tensor(zeros: [ids.count, decoder.config.hiddenSize])
        decoder.embed(ids, into: t)
        return t
    }

    static func ids(_ n: Int, seed: Int) -> [Int] { (0..<n).map { (($0 + 1) * 37 + seed * 101) % 480 + 10 } }

    static func maxDiff(_ a: Tensor, _ b: Tensor) -> Float {
        var m: Float = 0
        for i in 0..<a.count { m = max(m, abs(a.floats[i] - b.floats[i])) }
        return m
    }

    @Test func prefillingInPiecesEqualsOnePass() {
        let decoder = Self.model.decoder
        let a = Self.ids(13, seed: 1), b = Self.ids(9, seed: 2)
        let whole = TextGenerator(decoder: decoder, capacity: 64)
        let logitsWhole = whole.step(Self.embeddings(a + b, decoder)).toF32()
        let pieces = TextGenerator(decoder: decoder, capacity: 64)
        _ = pieces.step(Self.embeddings(a, decoder))
        let logitsPieces = pieces.step(Self.embeddings(b, decoder)).toF32()
        #expect(Self.maxDiff(logitsWhole, logitsPieces) < 1e-4)
    }

    @Test func rotationsCompose() {
        let rope = Self.model.decoder.rope
        let hd = rope.headDim
        let k = Tensor.random([1, hd], seed: 5, scale: 1)
        for (p, delta) in [(3, 7), (100, 900), (1500, 2000)] {
            let once = Tensor(zeros: [1, hd])
            once.copy(from: k)
            rope.apply(once, heads: 1, positions: [Int32(p + delta)])
            let twice = Tensor(zeros: [1, hd])
            twice.copy(from: k)
            rope.apply(twice, heads: 1, positions: [Int32(p)])
            rope.apply(twice, heads: 1, positions: [Int32(delta)])
            #expect(Self.maxDiff(once, twice) < 1e-5, "p = \(p), Δ = \(delta)")
        }
    }

    /// C4: evict a middle block and re-position; the next token's logits equal those of a cache built fresh from
    /// the survivors' K/V with keys rotated by the prefill path at their new positions.
    @Test func evictionThenRepositionEqualsFreshRotation() throws {
        let decoder = Self.model.decoder
        let c = decoder.config
        let store = RetrievalStore(
            layerCount: c.numHiddenLayers, kvHeads: c.numKeyValueHeads, headDim: c.headDim, maxTokens: 64,
            byteCap: 1 << 20)
        let cache = StreamingKVCache(
            decoder: decoder, budget: CacheBudget(maxPositions: 512, visionWindowSeconds: 3, minimumWindowSeconds: 1),
            store: store)
        let generator = TextGenerator(decoder: decoder, cache: cache)
        cache.openBlock(.sink, time: 0)
        generator.prefill(Self.embeddings(Self.ids(7, seed: 3), decoder))
        cache.closeBlock()
        for t in 0..<5 {
            cache.openBlock(.chunk, time: Double(t))
            generator.prefill(Self.embeddings(Self.ids(11, seed: 10 + t), decoder))
            cache.closeBlock()
        }
        // Snapshot the pre-RoPE keys and values of what will survive, in order.
        try cache.makeRoom(for: 5, now: 5)  // window 3 s: chunks 0 and 1 leave
        #expect(cache.chunks.map(\.time) == [2, 3, 4])
        #expect(cache.validate().isEmpty)
        #expect(store.blocks.count == 2)
        let survivors = cache.count
        let next = Self.embeddings(Self.ids(5, seed: 77), decoder)
        let streamed = generator.step(next).toF32()

        // Fresh: a flat cache holding the same K/V (values and pre-RoPE keys copied), keys rotated by RoPE.apply.
        let fresh = decoder.makeCache(capacity: 512)
        let s = cache.storage
        for l in 0..<c.numHiddenLayers {
            for j in 0..<c.numKeyValueHeads {
                let rows = Tensor(zeros: [survivors, c.headDim])
                (rows.floats).update(from: s.preRoPEKeys[l].floats + j * s.capacity * c.headDim, count: survivors * c.headDim)
                decoder.rope.apply(rows, heads: 1, positions: (0..<survivors).map(Int32.init))
                (fresh.keys[l].floats + j * fresh.capacity * c.headDim).update(from: rows.floats, count: rows.count)
                (fresh.values[l].floats + j * fresh.capacity * c.headDim).update(
                    from: s.values[l].floats + j * s.capacity * c.headDim, count: survivors * c.headDim)
            }
        }
        var positions = (0..<survivors).map(Int32.init)
        positions.withUnsafeBufferPointer { fresh.commit(positions: $0) }
        positions.removeAll()
        let reference = TextGenerator(decoder: decoder, cache: fresh).step(next).toF32()
        #expect(Self.maxDiff(streamed, reference) < 1e-4)
    }

    /// C5: after every eviction the blocks tile the slots and positions are 0 … L−1, whatever the sequence.
    @Test func positionsStayContiguousUnderRandomEvictions() throws {
        let decoder = Self.model.decoder
        let c = decoder.config
        let store = RetrievalStore(
            layerCount: c.numHiddenLayers, kvHeads: c.numKeyValueHeads, headDim: c.headDim, maxTokens: 64,
            byteCap: 256 << 10)
        let cache = StreamingKVCache(
            decoder: decoder,
            budget: CacheBudget(maxPositions: 400, visionWindowSeconds: 6, minimumWindowSeconds: 2, textSink: 20, textWindow: 30),
            store: store)
        let generator = TextGenerator(decoder: decoder, cache: cache)
        cache.openBlock(.sink, time: 0)
        generator.prefill(Self.embeddings(Self.ids(9, seed: 1), decoder))
        cache.closeBlock()
        var rng = SplitMix(seed: 42)
        for t in 0..<300 {
            let chunk = 5 + Int(rng.next() % 12)
            try cache.makeRoom(for: chunk, now: Double(t))
            #expect(cache.validate().isEmpty, "after eviction at \(t): \(cache.validate())")
            cache.openBlock(.chunk, time: Double(t))
            generator.prefill(Self.embeddings(Self.ids(chunk, seed: t), decoder))
            cache.closeBlock()
            if rng.next() % 5 == 0 {
                let qa = 3 + Int(rng.next() % 20)
                try cache.makeRoom(for: qa, now: Double(t))
                cache.openBlock(.qa, time: Double(t))
                generator.prefill(Self.embeddings(Self.ids(qa, seed: t + 1000), decoder))
                cache.closeBlock()
            }
            #expect(cache.count <= 400)
        }
        #expect(cache.blocks.first?.kind == .sink && cache.blocks.first?.count == 9)
        #expect(cache.blocks.contains { $0.kind == .previousText })
        #expect(cache.tokens(of: .previousText) <= 50)
        #expect(cache.storage.computedTokens == cache.appendedTokens)
        #expect(store.thinnedBlocks > 0, "the store filled and thinned itself")
    }

    /// With nothing evicted, greedy generation through the block cache is the flat cache's, bit for bit.
    @Test(arguments: [Precision.fp32, .int8])
    func blockCacheGeneratesWhatTheFlatCacheDoes(precision: Precision) {
        let decoder = Self.model.prepared(for: precision).decoder
        let c = decoder.config
        let prompt = Self.ids(21, seed: 9)
        let flat = TextGenerator(decoder: decoder, capacity: 128)
        let flatIDs = flat.generate(
            promptEmbeddings: Self.embeddings(prompt, decoder), promptIDs: prompt, maxNewTokens: 30, stopTokenIDs: [],
            sampling: SamplingParameters()) { _ in true }.tokens
        let store = RetrievalStore(layerCount: c.numHiddenLayers, kvHeads: c.numKeyValueHeads, headDim: c.headDim, maxTokens: 1, byteCap: 0)
        let cache = StreamingKVCache(decoder: decoder, budget: CacheBudget(maxPositions: 128), store: store)
        let blocks = TextGenerator(decoder: decoder, cache: cache)
        let blockIDs = blocks.generate(
            promptEmbeddings: Self.embeddings(prompt, decoder), promptIDs: prompt, maxNewTokens: 30, stopTokenIDs: [],
            sampling: SamplingParameters()) { _ in true }.tokens
        #expect(flatIDs == blockIDs)
        for l in 0..<c.numHiddenLayers {
            #expect(memcmp(flat.cache.storage.keys[l].raw, cache.storage.keys[l].raw, flat.cache.storage.keys[l].byteCount) == 0)
            #expect(memcmp(flat.cache.storage.values[l].raw, cache.storage.values[l].raw, flat.cache.storage.values[l].byteCount) == 0)
        }
    }

    /// A spliced view puts stored frames back between PREV_TEXT and the window; dropping it restores the cache.
    @Test func retrievalViewSplicesAndDrops() throws {
        let decoder = Self.model.decoder
        let c = decoder.config
        let store = RetrievalStore(
            layerCount: c.numHiddenLayers, kvHeads: c.numKeyValueHeads, headDim: c.headDim, maxTokens: 64, byteCap: 1 << 20)
        let cache = StreamingKVCache(
            decoder: decoder, budget: CacheBudget(maxPositions: 512, visionWindowSeconds: 2, minimumWindowSeconds: 1),
            store: store)
        let generator = TextGenerator(decoder: decoder, cache: cache)
        cache.openBlock(.sink, time: 0)
        generator.prefill(Self.embeddings(Self.ids(6, seed: 1), decoder))
        cache.closeBlock()
        for t in 0..<6 {
            try cache.makeRoom(for: 8, now: Double(t))
            cache.openBlock(.chunk, time: Double(t))
            generator.prefill(Self.embeddings(Self.ids(8, seed: t), decoder))
            cache.closeBlock()
        }
        let before = cache.blocks
        let keysBefore = cache.storage.keys[0].toF32()
        #expect(store.blocks.map(\.time) == [0, 1, 2])
        let times = cache.spliceView([0, 2], reserve: 10)
        #expect(times == [0, 2])
        #expect(cache.validate().isEmpty)
        #expect(cache.blocks.map(\.kind) == [.sink, .view, .view, .chunk, .chunk, .chunk])
        cache.dropView()
        #expect(cache.blocks == before)
        // The live slots' rotated keys are back to what they were, bit for bit.
        let keysAfter = cache.storage.keys[0].toF32()
        let s = cache.storage
        for j in 0..<c.numKeyValueHeads {
            let offset = j * s.capacity * c.headDim
            for i in 0..<(cache.count * c.headDim) {
                #expect(keysBefore.floats[offset + i] == keysAfter.floats[offset + i])
            }
        }
    }
}

/// A tiny deterministic generator for test sequences.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
