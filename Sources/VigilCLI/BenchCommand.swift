// `vigil bench`: the speed and memory figures of the model runtime, measured the same way every time —
// vision seconds per frame (median over distinct frames after a warm-up, nothing cached), prefill tokens/s for a
// 1024-token prompt (logits of the last position only), decode tokens/s for 128 new tokens at a context of about
// 1k (stop tokens ignored), peak RSS, and the kernels used. `--json` prints one machine-readable object.

import Foundation
import Kernels
import ModelHub
import SmolVLM
import VigilCore

struct BenchCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "bench",
        abstract: "Measure vision, prefill and decode speed and peak memory of the model runtime.",
        discussion: """
            Runs the vision tower on distinct random frames (no caching of any kind), prefills a prompt of \
            --prompt-tokens tokens (logits for the last position only), then decodes --decode-tokens tokens greedily \
            with stop tokens ignored. Use a release build (swift build -c release) for meaningful numbers.
            """,
        arguments: [
            .option(
                "--random-weights", value: "ARCH",
                help: "Exact real shapes with seeded random weights: smolvlm2-256m or smolvlm2-500m."),
            .option(
                "--model", value: "M",
                help: "Instead of random weights: a model folder, hub id or .gguf file (a GGUF has no vision figure)."),
            ModelOptions.revisionSpec, .flag("--offline", help: "Never download (also HF_HUB_OFFLINE=1)."),
            ModelOptions.cacheDirSpec,
        ] + ModelArguments.computeSpecs(defaultPrecision: .auto) + [
            .option("--frames", value: "N", help: "Distinct frames timed for the vision figure (after one warm-up).", default: "5"),
            .option("--prompt-tokens", value: "N", help: "Prompt length for the prefill figure.", default: "1024"),
            .option("--decode-tokens", value: "N", help: "Tokens generated for the decode figure.", default: "128"),
            .flag("--json", help: "Print one JSON object."),
            .option(
                "--live", value: "SOURCE",
                help: "Live mode: replay SOURCE in real time through a live session (see LIVE MODE below)."),
            .option("--seconds", value: "S", help: "Live and caption modes: media seconds to run (default: the whole source)."),
            .option(
                "--question", value: "T:TEXT", help: "Live mode: ask TEXT at media time T seconds (repeatable).",
                repeatable: true),
            .option(
                "--sample-interval", value: "S", help: "Live mode: seconds between RSS and KV samples.", default: "10"),
            .option(
                "--baseline-frames", value: "N",
                help: "Live mode: frames timed afterwards through the plain tower (cacher off), for the saving.",
                default: "5"),
            .option(
                "--stream-text", value: "FILE",
                help: "Text mode: perplexity of FILE through a sliding-window oracle, sink + window streaming, and a "
                    + "window without sink (a text model, e.g. the SmolLM2 GGUF)."),
            .option("--caption", value: "FILE", help: "Caption mode: caption FILE at vigil caption's defaults."),
            .flag("--baseline", help: "Caption mode: run again without cacher and pruner, for the measured saving."),
            .option("--cache-size", value: "N", help: "Text mode: KV positions of the streaming cache.", default: "1024"),
            .option("--sink-tokens", value: "N", help: "Text mode: tokens pinned at the start.", default: "4"),
            .option("--stride", value: "N", help: "Text mode: recompute stride of the oracle.", default: "256"),
            .option("--max-text-tokens", value: "N", help: "Text mode: tokens of FILE scored (0 = all).", default: "0"),
            .option("--chunk", value: "N", help: "Text mode: tokens appended per streaming step.", default: "32"),
        ] + SessionArguments.specs,
        examples: [
            "vigil bench --random-weights smolvlm2-256m --json",
            "vigil bench --random-weights smolvlm2-256m --live samples/long/static_moving_10min.mp4 --seconds 600 "
                + "--question '120:what is moving?' --json",
            "vigil bench --model SmolLM2-135M-Instruct.Q4_1.gguf --stream-text book.txt --cache-size 1024 --json",
            "vigil bench --random-weights smolvlm2-256m --caption samples/long/scene_cuts_10min.mp4 --json",
        ])

    var preset: ModelPreset?
    var precision: Precision
    var model: ModelOptions?
    var threads: Int
    var frames: Int
    var promptTokens: Int
    var decodeTokens: Int
    var json: Bool
    var arguments: ParsedArguments

    init(_ a: ParsedArguments) throws {
        arguments = a
        preset = try ModelArguments.preset(a)
        model = a.value("--model") == nil ? nil : try ModelOptions(a)
        guard (preset == nil) != (model == nil) else {
            throw ValidationError("give exactly one of '--random-weights ARCH' or '--model M'")
        }
        precision = try a.choice("--precision", default: Precision.auto)
        threads = try a.int("--threads", default: 2, in: 1...256)
        frames = try a.int("--frames", default: 5, in: 1...1000)
        promptTokens = try a.int("--prompt-tokens", default: 1024, in: 2...100_000)
        decodeTokens = try a.int("--decode-tokens", default: 128, in: 1...100_000)
        json = a.flag("--json")
    }

    func run() async throws {
        if let source = arguments.value("--live") { return try await runLive(source: source) }
        if let file = arguments.value("--stream-text") { return try await runStreamText(file: file) }
        if let file = arguments.value("--caption") { return try await runCaption(file: file) }
        setComputeThreads(threads)
        let loadStart = Date()
        let name = preset?.rawValue ?? model!.model
        let loaded = try await ModelArguments.load(options: model, preset: preset, precision: precision)
        let loadSeconds = Date().timeIntervalSince(loadStart)
        let context = ComputeContext()
        progress("loaded \(name) in \(String(format: "%.1f", loadSeconds)) s")

        // Vision: one warm-up frame, then `frames` distinct frames, each encoded from scratch.
        var visionMedian: Double?
        let decoder: LlamaDecoder
        switch loaded {
        case .text(let lm):
            decoder = lm.decoder
        case .vision(let loaded):
            let vlm = loaded.model
            decoder = vlm.decoder
            let v = vlm.config.visionConfig
            let encoder = FrameEncoder(model: vlm)
            let features = Tensor(zeros: [vlm.tokensPerFrame, vlm.config.textConfig.hiddenSize])
            var visionTimes: [Double] = []
            for i in 0...frames {
                try Task.checkCancellation()
                let pixels = Tensor.random([1, v.numChannels, v.imageSize, v.imageSize], seed: UInt64(i + 1), scale: 1)
                let start = DispatchTime.now()
                encoder.encode(pixels, into: features, context: context)
                if i > 0 { visionTimes.append(start.secondsElapsed) }
            }
            visionMedian = Self.median(visionTimes)
            progress("vision: \(String(format: "%.3f", visionMedian!)) s/frame (median of \(frames))")
        }

        // Prefill, then decode from that context.
        let generator = TextGenerator(
            decoder: decoder, capacity: promptTokens + decodeTokens + 1, context: context)
        var ids = [Int]()
        var state: UInt64 = 42
        for _ in 0..<promptTokens {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            ids.append(Int(state >> 33) % decoder.config.vocabSize)
        }
        let embeddings = Tensor(zeros: [promptTokens, decoder.config.hiddenSize])
        decoder.embed(ids, into: embeddings)
        // Warm-up prefill on a short prompt so primitive creation is not timed.
        _ = generator.step(embeddings.rows(0..<8))
        generator.cache.storage.reset()
        try Task.checkCancellation()
        let result = generator.generate(
            promptEmbeddings: embeddings, promptIDs: ids, maxNewTokens: decodeTokens, stopTokenIDs: [],
            sampling: SamplingParameters()) { _ in !Task.isCancelled }
        try Task.checkCancellation()
        let prefillRate = Double(promptTokens) / result.prefillSeconds
        let decodeRate = result.tokens.count > 1 ? Double(result.tokens.count - 1) / result.decodeSeconds : 0
        progress("prefill: \(Int(prefillRate)) tok/s; decode: \(String(format: "%.1f", decodeRate)) tok/s")

        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakRSS = Int(usage.ru_maxrss) * 1024
        let report: JSONValue = .object([
            ("model", .string(name)),
            ("precision", .string(precision.rawValue)),
            ("precision_detail", .string(precision.resolved.label)),
            ("threads", .int(threads)),
            ("vision_s_per_frame", .double(visionMedian)),
            ("vision_frames", .int(visionMedian == nil ? 0 : frames)),
            ("prefill_tokens", .int(promptTokens)),
            ("prefill_tok_s", .double(prefillRate)),
            ("decode_tokens", .int(result.tokens.count)),
            ("decode_context", .int(promptTokens)),
            ("decode_tok_s", .double(decodeRate)),
            ("peak_rss_bytes", .int(peakRSS)),
            ("load_s", .double(loadSeconds)),
            ("kernels", .object([
                ("matmul", .string("onednn \(ComputeInfo.dnnlVersion) \(precision.resolved.matmul) (\(ComputeInfo.dnnlISA))")),
                ("decode", .string(precision.resolved.decode.map { "fused \($0.rawValue) gemv" } ?? "reference")),
                ("c_kernels", .string(ComputeInfo.kernelISA)),
            ])),
        ])
        if json {
            Console.json(report)
        } else {
            if let visionMedian { Console.outLine("vision  \(String(format: "%.3f", visionMedian)) s/frame") }
            Console.outLine("prefill \(String(format: "%.0f", prefillRate)) tok/s (\(promptTokens) tokens)")
            Console.outLine("decode  \(String(format: "%.1f", decodeRate)) tok/s (\(result.tokens.count) tokens at context \(promptTokens))")
            Console.outLine("peak RSS \(peakRSS / 1_048_576) MiB")
        }
    }

    func progress(_ message: String) {
        if !json || Console.stderrIsTerminal { Log.info(message) }
    }


    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
