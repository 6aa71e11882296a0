// The sink + window KV cache on real pretrained weights (SmolLM2-135M-Instruct, the GGUF scripts/setup fetches):
// streaming a text several times longer than the cache keeps perplexity within 10% of the sliding-window recompute
// oracle when the first tokens are pinned, and is clearly worse without them. (`vigil bench --stream-text` measures
// the same at the default sizes.) Skipped without the file, except in CI.

import Foundation
import SmolVLM
import Streaming
import Testing
import TestSupport

@Suite(.serialized, .holdingSerialLock) struct SinkWindowRealWeightsTests {
    @Test func sinkAndWindowTrackTheOracle() throws {
        let gguf = Fixtures.smolLM2GGUF
        guard FileManager.default.fileExists(atPath: gguf.path) else {
            #expect(!Fixtures.isCI, "\(gguf.path) is missing: run scripts/setup")
            return
        }
        let model = try TextLanguageModel.load(gguf: gguf)
        // Debian's base-files ships the GPL text: a long English text on every machine.
        let text = try String(contentsOfFile: "/usr/share/common-licenses/GPL-3", encoding: .utf8)
        let ids = Array(model.tokenizer.encode(text).prefix(1400))
        let oracle = TextPerplexity.slidingWindow(decoder: model.decoder, ids: ids, window: 256, stride: 64)
        let (sinkWindow, evicted) = TextPerplexity.streaming(decoder: model.decoder, ids: ids, window: 256, sink: 4, chunk: 16)
        let (windowOnly, _) = TextPerplexity.streaming(decoder: model.decoder, ids: ids, window: 256, sink: 0, chunk: 16)
        #expect(evicted > 1000, "the cache evicted most of the text")
        #expect(oracle.scoredTokens == sinkWindow.scoredTokens)
        #expect(sinkWindow.computedTokens == ids.count - 1, "streaming computes every token once")
        let ratio = sinkWindow.perplexity / oracle.perplexity
        #expect(abs(ratio - 1) < 0.10, "sink + window \(sinkWindow.perplexity) vs oracle \(oracle.perplexity)")
        #expect(windowOnly.perplexity > sinkWindow.perplexity * 1.05, "window only \(windowOnly.perplexity)")
    }
}
