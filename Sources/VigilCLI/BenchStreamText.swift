// `vigil bench --stream-text FILE --model M`: the sink/window KV cache on real weights. The text is tokenised with
// the model's tokenizer and scored three ways at the same context budget (`--cache-size` positions): a sliding-window
// recompute oracle (`--stride`), sink + window streaming with contiguous RoPE (`--sink-tokens`), and the same window
// without a sink. Streaming is within a few percent of the oracle when the sink is kept; without it, perplexity
// blows up once the first tokens are evicted (StreamingLLM's finding).

import Foundation
import Kernels
import SmolVLM
import Streaming
import Tokenization
import VigilCore

extension BenchCommand {
    func runStreamText(file: String) async throws {
        let cacheSize = try arguments.int("--cache-size", default: 1024, in: 16...8192)
        let sink = try arguments.int("--sink-tokens", default: 4, in: 1...4096)
        let stride = try arguments.int("--stride", default: 256, in: 1...8192)
        let limit = try arguments.int("--max-text-tokens", default: 0, in: 0...10_000_000)
        let chunk = try arguments.int("--chunk", default: 32, in: 1...4096)
        guard stride <= cacheSize, chunk < cacheSize - sink else {
            throw ValidationError("need --stride ≤ --cache-size and --chunk < --cache-size − --sink-tokens")
        }
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8)
        else {
            throw ModelArgumentError("--stream-text \(file): cannot read it as UTF-8 text (missing, unreadable or binary)")
        }
        setComputeThreads(threads)
        let loaded = try await ModelArguments.load(options: model, preset: preset, precision: precision)
        let decoder: LlamaDecoder
        let tokenizer: Tokenizer
        switch loaded {
        case .text(let lm):
            decoder = lm.decoder
            tokenizer = lm.tokenizer
        case .vision(let vlm):
            decoder = vlm.model.decoder
            tokenizer = vlm.tokenizer
        }
        var ids = tokenizer.encode(text)
        if limit > 0 && ids.count > limit { ids = Array(ids.prefix(limit)) }
        guard ids.count > 2 * cacheSize else {
            throw ModelArgumentError(
                "--stream-text \(file): \(ids.count) tokens; give a text at least twice --cache-size (\(cacheSize)) "
                    + "long so the cache has to evict")
        }
        let context = ComputeContext()
        progress("\(ids.count) tokens, cache \(cacheSize) positions: oracle (stride \(stride))…")
        let oracle = TextPerplexity.slidingWindow(decoder: decoder, ids: ids, window: cacheSize, stride: stride, context: context)
        progress("oracle perplexity \(String(format: "%.3f", oracle.perplexity)); sink \(sink) + window…")
        let (streamed, evicted) = TextPerplexity.streaming(
            decoder: decoder, ids: ids, window: cacheSize, sink: sink, chunk: chunk, context: context)
        progress("sink + window \(String(format: "%.3f", streamed.perplexity)); window without sink…")
        let (windowOnly, _) = TextPerplexity.streaming(
            decoder: decoder, ids: ids, window: cacheSize, sink: 0, chunk: chunk, context: context)
        func entry(_ r: TextPerplexity.Result) -> JSONValue {
            .object([
                ("perplexity", .double(r.perplexity)), ("nll_per_token", .double(r.negativeLogLikelihood / Double(r.scoredTokens))),
                ("scored_tokens", .int(r.scoredTokens)), ("computed_tokens", .int(r.computedTokens)),
                ("seconds", .double(r.seconds)),
            ])
        }
        let ratio = streamed.perplexity / oracle.perplexity
        let report: JSONValue = .object([
            ("text", .string(file)), ("tokens", .int(ids.count)), ("model", .string(model?.model ?? preset?.rawValue ?? "")),
            ("precision", .string(precision.rawValue)), ("cache_size", .int(cacheSize)), ("sink_tokens", .int(sink)),
            ("stride", .int(stride)), ("chunk", .int(chunk)), ("evicted_tokens", .int(evicted)),
            ("oracle", entry(oracle)), ("sink_window", entry(streamed)), ("window_only", entry(windowOnly)),
            ("sink_window_vs_oracle", .double(ratio)),
            ("window_only_vs_oracle", .double(windowOnly.perplexity / oracle.perplexity)),
        ])
        if json {
            Console.json(report)
        } else {
            Console.outLine("text: \(ids.count) tokens, cache \(cacheSize) positions, \(evicted) tokens evicted while streaming")
            Console.outLine(String(format: "oracle (recompute, stride %d)   perplexity %.3f", stride, oracle.perplexity))
            Console.outLine(String(format: "sink %d + window (contiguous)  perplexity %.3f  (%+.1f%% vs oracle)", sink,
                streamed.perplexity, (ratio - 1) * 100))
            Console.outLine(String(format: "window without sink           perplexity %.3f  (%+.1f%% vs oracle)",
                windowOnly.perplexity, (windowOnly.perplexity / oracle.perplexity - 1) * 100))
        }
    }
}
