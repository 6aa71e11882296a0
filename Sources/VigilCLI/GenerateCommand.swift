// `vigil generate`: one prompt, optionally with an image or a video, answered by the model; the text streams to
// standard output as it is produced. With `--json` the last line is one object:
//   {"prompt_tokens": n, "tokens": [generated ids, incl. a stop token if one was produced], "text": "...",
//    "stop_reason": "...", "timings": {...}}
// The prompt is wrapped in the model's chat template as transformers' processor does (images split into tiles plus
// a global view; video frames chosen as the reference video processor chooses them).

import Foundation
import Kernels
import MediaIngest
import ModelHub
import SmolVLM
import Tokenization
import VigilCore

struct GenerateCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "generate",
        abstract: "Answer one prompt, optionally about an image or a video, streaming the text.",
        discussion: """
            The model is a SmolVLM folder or hub id (--model), a text-only GGUF file, or --random-weights. The prompt \
            is wrapped in the model's chat template. Greedy decoding unless --temperature > 0. The default precision \
            fp32 reproduces transformers exactly; --precision auto is the fast path.
            """,
        arguments: ModelOptions.specs + ModelArguments.randomWeightsSpecs + [
            .option("--prompt", value: "TEXT", help: "The question or instruction.", required: true),
            .option("--image", value: "FILE", help: "An image (PNG, JPEG, …) to ask about."),
            .option("--video", value: "FILE", help: "A video file to ask about."),
            .option("--fps", value: "F", help: "Video frames sampled per second (as the reference processor).", default: "1"),
            .option("--max-frames", value: "N", help: "Most video frames.", default: "the model's (64)"),
            .flag("--no-image-splitting", help: "Do not split a large image into tiles (one global view)."),
            .option("--max-tokens", value: "N", help: "Most new tokens.", default: "256"),
            .option("--temperature", value: "T", help: "0 = greedy; > 0 samples.", default: "0"),
            .option("--top-k", value: "K", help: "Sample from the K most likely tokens (0 = all).", default: "0"),
            .option("--top-p", value: "P", help: "Sample from the smallest set reaching probability P.", default: "1"),
            .option("--repetition-penalty", value: "R", help: "> 1 discourages repeats (1 = off).", default: "1"),
            .option("--seed", value: "S", help: "Seed for sampling.", default: "random"),
        ] + ModelArguments.computeSpecs(defaultPrecision: .fp32) + [
            .flag("--json", help: "End with one JSON line: prompt_tokens, tokens, text, timings."),
        ],
        examples: [
            "vigil generate --model HuggingFaceTB/SmolVLM2-256M-Video-Instruct --image photo.png --prompt 'Describe it.'",
            "vigil generate --model clip.mp4 --video clip.mp4 --prompt 'What happens?' --precision auto",
            "vigil generate --model SmolLM2-135M-Instruct.Q4_1.gguf --prompt 'What is the capital of France?'",
        ])

    var model: ModelOptions
    var preset: ModelPreset?
    var prompt: String
    var image: String?
    var video: String?
    var fps: Double
    var maxFrames: Int?
    var splitImages: Bool
    var maxTokens: Int
    var sampling: SamplingParameters
    var precision: Precision
    var threads: Int
    var json: Bool

    init(_ a: ParsedArguments) throws {
        model = try ModelOptions(a)
        preset = try ModelArguments.preset(a)
        prompt = try a.required("--prompt")
        image = a.value("--image")
        video = a.value("--video")
        if image != nil && video != nil { throw ValidationError("give '--image' or '--video', not both") }
        fps = try a.double("--fps", default: 1, in: 0.001...1000)
        maxFrames = try a.int("--max-frames", in: 1...10_000)
        splitImages = !a.flag("--no-image-splitting")
        maxTokens = try a.int("--max-tokens", default: 256, in: 1...1_000_000)
        var s = SamplingParameters()
        s.temperature = try a.double("--temperature", default: 0, in: 0...100)
        s.topK = try a.int("--top-k", default: 0, in: 0...1_000_000)
        s.topP = try a.double("--top-p", default: 1, in: 0.000001...1)
        s.repetitionPenalty = try a.double("--repetition-penalty", default: 1, in: 0.01...100)
        if let seed = a.value("--seed") {
            guard let v = UInt64(seed) else { throw ValidationError("invalid value '\(seed)' for '--seed': expected a non-negative integer") }
            s.seed = v
        }
        sampling = s
        precision = try a.choice("--precision", default: Precision.fp32)
        threads = try a.int("--threads", default: 2, in: 1...256)
        json = a.flag("--json")
    }

    func run() async throws {
        setComputeThreads(threads)
        let start = Date()
        let loaded = try await ModelArguments.load(options: model, preset: preset, precision: precision)
        let loadSeconds = Date().timeIntervalSince(start)
        let requestStart = Date()
        var visionSeconds = 0.0
        let context = ComputeContext()
        let decoder: LlamaDecoder
        let tokenizer: Tokenizer
        let ids: [Int]
        let embeddings: Tensor
        let stopIDs: [Int]
        switch loaded {
        case .text(let lm):
            guard image == nil && video == nil else {
                throw GenerateError("\(model.model) is a text-only model: it cannot take --image or --video")
            }
            decoder = lm.decoder
            tokenizer = lm.tokenizer
            ids = tokenizer.encode(try lm.chatPrompt(user: prompt))
            embeddings = Tensor(zeros: [ids.count, decoder.config.hiddenSize])
            try Self.checkVocabulary(ids, decoder)
            decoder.embed(ids, into: embeddings)
            stopIDs = lm.stopTokenIDs
        case .vision(let loaded):
            let (vlm, tok, settings) = (loaded.model, loaded.tokenizer, loaded.processor)
            decoder = vlm.decoder
            tokenizer = tok
            stopIDs = vlm.stopTokenIDs
            var pixels: Tensor?
            let text: String
            if let image {
                var config = settings.preprocessor
                config.doImageSplitting = config.doImageSplitting && splitImages
                let processed = ImageProcessor(config: config).process(try ImageFile.load(image))
                pixels = processed.pixelValues
                text = PromptBuilder.imagePrompt(
                    text: prompt, rows: processed.rows, cols: processed.cols, imageSeqLen: vlm.tokensPerFrame)
            } else if let video {
                let (frames, prompted) = try videoInput(video, settings: settings, tokensPerFrame: vlm.tokensPerFrame)
                pixels = frames
                text = prompted
            } else {
                text = PromptBuilder.chat([.init(role: "user", content: [.text(prompt)])], imageSeqLen: vlm.tokensPerFrame)
            }
            ids = tokenizer.encode(text)
            try Self.checkVocabulary(ids, decoder)
            let visionStart = Date()
            embeddings = try vlm.promptEmbeddings(ids: ids, frames: pixels, context: context)
            visionSeconds = pixels == nil ? 0 : Date().timeIntervalSince(visionStart)
        }
        let limit = decoder.config.maxPositionEmbeddings
        guard ids.count < limit else {
            throw GenerateError("the prompt is \(ids.count) tokens; the model takes at most \(limit) (use fewer frames)")
        }
        let capacity = min(limit, ids.count + maxTokens)
        let generator = TextGenerator(decoder: decoder, capacity: capacity, context: context)
        var detokenizer = tokenizer.makeStreamingDetokenizer(skipSpecialTokens: true)
        var text = ""
        let stops = Set(stopIDs)
        let result = generator.generate(
            promptEmbeddings: embeddings, promptIDs: ids, maxNewTokens: capacity - ids.count, stopTokenIDs: stops,
            sampling: sampling
        ) { id in
            if !stops.contains(id) {
                let piece = detokenizer.append(id)
                text += piece
                Console.out(piece)
            }
            return !Task.isCancelled
        }
        let tail = detokenizer.finish()
        text += tail
        Console.out(tail + "\n")
        if json {
            let decodeRate = result.tokens.count > 1 ? Double(result.tokens.count - 1) / result.decodeSeconds : 0
            Console.json(.object([
                ("prompt_tokens", .int(result.promptTokens)),
                ("tokens", .array(result.tokens.map { .int($0) })),
                ("text", .string(text)),
                ("stop_reason", .string(result.stopReason.rawValue)),
                ("precision", .string(precision.rawValue)),
                ("timings", .object([
                    ("load_s", .double(loadSeconds)),
                    ("vision_s", .double(visionSeconds)),
                    ("prefill_s", .double(result.prefillSeconds)),
                    ("prefill_tok_s", .double(Double(result.promptTokens) / max(result.prefillSeconds, 1e-9))),
                    ("ttft_s", .double(Date().timeIntervalSince(requestStart) - result.decodeSeconds)),
                    ("decode_s", .double(result.decodeSeconds)),
                    ("decode_tok_s", .double(decodeRate)),
                ])),
            ]))
        }
        if Task.isCancelled { throw CancellationError() }
    }

    /// Frames of `path` chosen as SmolVLM's video processor chooses them, preprocessed, and the video prompt.
    private func videoInput(_ path: String, settings: ProcessorSettings, tokensPerFrame: Int) throws -> (Tensor, String) {
        let info = try VideoClip.frameCountAndRate(path)
        let sampling = settings.preprocessor.videoSampling
        let indices = VideoFrameSampler.indices(
            totalFrames: info.count, sourceFPS: info.fps, fps: fps, maxFrames: maxFrames ?? sampling?.maxFrames ?? 64)
        let frames = try VideoClip.frames(path, atIndices: indices)
        guard !frames.isEmpty else { throw GenerateError("\(path): no frames could be decoded") }
        let processor = ImageProcessor(config: settings.preprocessor)
        let first = processor.processVideoFrame(frames[0].image).pixels
        let pixels = Tensor(zeros: [frames.count] + Array(first.shape))
        for (i, frame) in frames.enumerated() {
            pixels[i].copy(from: i == 0 ? first : processor.processVideoFrame(frame.image).pixels)
        }
        let text = PromptBuilder.videoPrompt(
            text: prompt, timestamps: VideoFrameSampler.timestamps(indices: frames.map(\.index), sourceFPS: info.fps),
            duration: Double(info.count) / info.fps, imageSeqLen: tokensPerFrame)
        return (pixels, text)
    }

    private static func checkVocabulary(_ ids: [Int], _ decoder: LlamaDecoder) throws {
        if let bad = ids.first(where: { $0 >= decoder.config.vocabSize }) {
            throw GenerateError(
                "the tokenizer produced id \(bad) but the model's vocabulary has \(decoder.config.vocabSize) tokens: "
                    + "tokenizer.json does not belong to this model")
        }
    }
}

/// A problem with a generate request.
struct GenerateError: UserFacingError {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
