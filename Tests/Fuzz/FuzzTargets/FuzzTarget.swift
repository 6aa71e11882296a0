// The fuzz targets: one harness per kind of untrusted input Vigil reads (docs/reliability.md). Each takes arbitrary
// bytes through the same parsing the product does and must never trap, hang, leak or allocate without bound,
// whatever the bytes: a thrown error is the expected outcome and is ignored. libFuzzer drives them through the
// executables in Tests/Fuzz/Entry (`scripts/fuzz TARGET`); FuzzRegressionTests replays the committed seeds and crash
// inputs (Tests/Fixtures/fuzz/<target>/) through them in every `swift test`.

import Glibc

/// One fuzz target, named as `scripts/fuzz` and the fixture folders name it.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A `.safetensors` file (header and tensor table, tensors read back), alone or as the shard of an index.
    case safetensors
    /// A GGUF file: header, metadata values, tensor infos, dequantisation, the Llama checkpoint, tokenizer, template.
    case gguf
    /// `config.json`, `generation_config.json`, `preprocessor_config.json` and `processor_config.json` of a model
    /// folder, loaded as the model loader does (with an empty weight file) and applied to a small image.
    case modelConfig = "model-config"
    /// A `tokenizer.json` loaded, then used to encode and decode.
    case tokenizerJSON = "tokenizer-json"
    /// Arbitrary text encoded and arbitrary ids decoded (batch and streamed) by real tokenizers.
    case tokenizerEncode = "tokenizer-encode"
    /// A GGUF chat template recognised and rendered, and SmolVLM prompts built from arbitrary text and times.
    case chatTemplate = "chat-template"
    /// Hugging Face cache metadata: refs, snapshot names, safetensors indexes, repo ids, revisions, file names.
    case hubCache = "hub-cache"
    /// A pipeline preset file parsed and applied to a session configuration.
    case pipeline
    /// A caption journal read back, resumed, appended to and rendered to every caption format.
    case captionJournal = "caption-journal"
    /// A saved synopsis state restored and updated.
    case synopsisState = "synopsis-state"
    /// Feature bank segment files and thinning log reopened, read and appended to.
    case featureBank = "feature-bank"
    /// A persistent session's database (`session.sqlite`) listed, opened and restored from.
    case sessionStore = "session-store"
    /// HTTP requests (method, path, query, headers, JSON body) answered in-process by an `HTTPServer`.
    case httpRequest = "http-request"
    /// A media file probed and a few frames decoded (FFmpeg, with Vigil's limits).
    case media

    /// Runs one input through the target.
    public func run(_ input: [UInt8]) {
        switch self {
        case .safetensors: SafeTensorsHarness.run(input)
        case .gguf: GGUFHarness.run(input)
        case .modelConfig: ModelConfigHarness.run(input)
        case .tokenizerJSON: TokenizerJSONHarness.run(input)
        case .tokenizerEncode: TokenizerEncodeHarness.run(input)
        case .chatTemplate: ChatTemplateHarness.run(input)
        case .hubCache: HubCacheHarness.run(input)
        case .pipeline: PipelineHarness.run(input)
        case .captionJournal: CaptionJournalHarness.run(input)
        case .synopsisState: SynopsisStateHarness.run(input)
        case .featureBank: FeatureBankHarness.run(input)
        case .sessionStore: SessionStoreHarness.run(input)
        case .httpRequest: HTTPRequestHarness.run(input)
        case .media: MediaHarness.run(input)
        }
    }

    /// Loads what the target keeps for every input (tokenizers, fixtures, the HTTP server) — the entry points'
    /// `LLVMFuzzerInitialize`, so that loading is not timed as the first input.
    public func prepare() {
        switch self {
        case .tokenizerEncode: TokenizerEncodeHarness.prepare()
        case .httpRequest: HTTPRequestHarness.prepare()
        default: break
        }
    }

    /// Runs one libFuzzer input (the entry points' `LLVMFuzzerTestOneInput`) and checks that it left no file
    /// descriptor open; always returns 0.
    public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        let input = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
        let before = lowestFreeDescriptor()
        run(input)
        let after = lowestFreeDescriptor()
        if after > before {
            // Either this input leaks, or it was the first to make a library open something it keeps for good
            // (a lazily opened device, a cache): running it again tells them apart.
            run(input)
            let again = lowestFreeDescriptor()
            precondition(again <= after, "the input leaks a file descriptor (lowest free \(after), then \(again))")
        }
        return 0
    }
}

/// The lowest file descriptor not in use (what the next `open` would return): it rises when one leaks.
private func lowestFreeDescriptor() -> Int32 {
    let descriptor = dup(2)
    if descriptor >= 0 { close(descriptor) }
    return descriptor
}
