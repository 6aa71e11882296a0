// The model options every model-running command shares (`--random-weights`, `--precision`, `--threads`) and the
// step from a command line to a loaded model: `--model` is resolved (local folder, .gguf file, or a hub id through
// the Hugging Face cache, downloaded when allowed) and loaded by SmolVLM's `LoadedModel`.

import Foundation
import Kernels
import ModelHub
import SmolVLM
import VigilCore

/// Command-line model selection and loading.
enum ModelArguments {
    /// `--random-weights` (the model options come from `ModelOptions`).
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
        if let preset { return .vision(try VisionLanguageModel.random(preset, precision: precision)) }
        guard let options else { throw ValidationError("give '--model M' or '--random-weights ARCH'") }
        let url: URL
        if case .ggufFile(let file) = try options.location() {
            url = file
        } else {
            url = try await options.resolve(.smolVLM)
        }
        return try LoadedModel.load(url, precision: precision, name: options.model)
    }

    /// Loads a vision-language model; a text-only model is an error naming the command's need.
    static func loadVision(options: ModelOptions?, preset: ModelPreset?, precision: Precision, purpose: String)
        async throws -> VisionLanguageModel
    {
        switch try await load(options: options, preset: preset, precision: precision) {
        case .vision(let vlm): return vlm
        case .text:
            throw ModelArgumentError(
                "\(options?.model ?? "the model") is a text-only model; \(purpose) needs a SmolVLM vision model "
                    + "(a model folder, a hub id such as \(ModelOptions.defaultModel), or --random-weights)")
        }
    }
}

/// A model that cannot serve the command.
struct ModelArgumentError: UserFacingError {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
