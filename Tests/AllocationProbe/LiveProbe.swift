// The live loop's per-chunk work under the allocation counter: after a warm-up long enough for the vision window to
// fill, chunks to be evicted into the retrieval store, text to age into PREV_TEXT and the store to thin itself, every
// further frame is encoded (vision + STC-Cacher, connector, STC-Pruner) and committed (eviction, re-positioning,
// prefill) with every allocation of the process counted. Prints one JSON object; AllocationTests requires Vigil's
// own allocations per chunk to be zero and the heap not to grow.
//
// Usage: AllocationProbe live <model folder> <precision> [frames]

import Foundation
import Kernels
import SmolVLM
import Streaming

func runLiveProbe(_ arguments: [String]) {
    guard arguments.count >= 2, let precision = Precision(rawValue: arguments[1]) else {
        FileHandle.standardError.write("usage: AllocationProbe live <model folder> <precision> [frames]\n".data(using: .utf8)!)
        exit(64)
    }
    let frames = arguments.count > 2 ? Int(arguments[2]) ?? 300 : 300
    setComputeThreads(2)
    let model = try! VisionLanguageModel.load(folder: URL(fileURLWithPath: arguments[0]), precision: precision)
    var configuration = SessionConfiguration()
    configuration.pruner.keep = min(3, model.tokensPerFrame)
    configuration.retrievalMiB = 1
    configuration.captions = false
    configuration.featureMemory = false
    configuration.maxAnswerTokens = 8
    configuration.maxQuestionTokens = 64
    configuration.budget = CacheBudget(maxPositions: 1024, visionWindowSeconds: 8, minimumWindowSeconds: 2, textSink: 16, textWindow: 16)
    let engine = try! StreamEngine(model: model, configuration: configuration)
    engine.prefillSink()
    let v = model.model.config.visionConfig
    // A static scene with a small moving square: reference frames, cached frames, occasional scene cuts.
    let base = Tensor.random([v.numChannels, v.imageSize, v.imageSize], seed: 1, scale: 1)
    let pixels = (0..<16).map { i -> Tensor in
        let t = Tensor(zeros: [v.numChannels, v.imageSize, v.imageSize])
        t.copy(from: base)
        for y in 0..<8 { for x in 0..<8 { t.floats[(y + 4) * v.imageSize + (x + 3 * i) % (v.imageSize - 8)] = 2 } }
        return t
    }
    var time = 0.0
    func chunk() {
        let frame = engine.encode(pixels[Int(time) % pixels.count], time: time, discontinuous: time == 0)!
        engine.commit(frame)
        time += 1
    }
    // Warm-up, with a question answered so the QA path and PREV_TEXT are exercised too.
    for i in 0..<200 {
        chunk()
        if i % 50 == 25 {
            let prepared = try! engine.prepareQuestion("what moves?", askedAt: time, maxTokens: 8, retrieval: true)
            var g = engine.beginGeneration(prefix: prepared.ids, time: time, maxTokens: 8, stopAtNewline: false, started: 0)
            while !g.isFinished { _ = engine.step(&g) }
            _ = engine.finishGeneration(&g)
            if !prepared.retrievedTimes.isEmpty { engine.dropView() }
        }
    }
    let steady = measure { for _ in 0..<frames { chunk() } }
    let inspection = engine.inspect()
    print(
        "{\"frames\":\(frames),\"chunk_allocations\":\(steady.own),\"chunk_onednn_allocations\":\(steady.library),"
            + "\"chunk_heap_delta\":\(steady.heapDelta),\"composed_chunk_ids\":\(engine.prompt.composesChunkIDs),"
            + "\"evicted\":\(engine.cache.evictedBlocks),\"stored\":\(inspection.storedBlocks),"
            + "\"thinned\":\(engine.cache.store.thinnedBlocks),\"problems\":\(inspection.problems.count)}")
}
