// What the fuzzers found in model files and prompts, each now an error naming the file and the problem (or a
// clamped value) instead of a trap, a hang or an allocation of what the file claims. The minimised inputs are in
// Tests/Fixtures/fuzz/<target>/crashes (FuzzRegressionTests replays them through the harnesses too).

import Foundation
import Testing
import TestSupport

@testable import SmolVLM

@Suite struct HostileInputTests {
    /// A fresh temporary folder.
    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The CheckpointError opening the crash input `name` as a safetensors file throws.
    static func safetensorsError(_ name: String) throws -> CheckpointError {
        let url = Fixtures.url("fuzz/safetensors/crashes/\(name)")
        return try #require(throws: CheckpointError.self) { try SafeTensorsFile(url: url) }
    }

    @Test("a tensor whose shape overflows the byte count is an error, not a trap")
    func shapeOverflow() throws {
        let error = try Self.safetensorsError("shape-overflow.safetensors")
        #expect(error.description.contains("w: F32 [1099511627776, 1099511627776] is not a possible tensor shape"))
        #expect(error.description.contains("shape-overflow.safetensors"))
    }

    @Test("a header length of 2^63 or more is an error, not a trap")
    func headerLengthBeyondInt() throws {
        let error = try Self.safetensorsError("header-length-2e63.safetensors")
        #expect(error.description.contains("header length 18446744073709551615 does not fit the 10-byte file"))
    }

    @Test("data offsets whose difference overflows are an error, not a trap")
    func offsetsOverflow() throws {
        let error = try Self.safetensorsError("offsets-overflow.safetensors")
        #expect(error.description.contains("w: U8 [1] needs 1 bytes, header says [-1, 9223372036854775807]"))
    }

    @Test("a safetensors index naming a shard outside the model folder is refused")
    func shardOutsideFolder() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for shard in ["../outside.safetensors", "/etc/passwd", "a/./b.safetensors"] {
            let index = #"{"weight_map": {"w": "\#(shard)"}}"#
            try Data(index.utf8).write(to: folder.appendingPathComponent("model.safetensors.index.json"))
            let error = try #require(throws: CheckpointError.self) { try SafeTensorsWeights(folder: folder) }
            #expect(error.description.contains("names the shard '\(shard)', which is not a file in the model folder"))
        }
    }

    @Test("a GGUF block count of 2^40 is refused at once (it used to build 9·2^40 tensor names)")
    func ggufBlockCount() throws {
        let file = try GGUFFile(contentsOf: Fixtures.url("fuzz/gguf/crashes/block-count-2e40.gguf"))
        let error = try #require(throws: GGUFError.self) { try GGUFLlamaCheckpoint(file: file) }
        #expect(error.code == .invalidValue)
        #expect(error.message.contains("'llama.block_count' is 1099511627776, more than the 4096 Vigil accepts"))
    }

    @Test("GGUF head sizes whose product overflows are refused, not multiplied")
    func ggufHeadSizes() throws {
        let file = try GGUFFile(contentsOf: Fixtures.url("fuzz/gguf/crashes/head-size-overflow.gguf"))
        let error = try #require(throws: GGUFError.self) { try GGUFLlamaCheckpoint(file: file) }
        #expect(error.message.contains("'llama.attention.head_count' is 4294967296, more than the 1048576"))
    }

    @Test("a config claiming enormous sizes lists them as problems instead of overflowing")
    func configSizes() throws {
        let input = try Data(contentsOf: Fixtures.url("fuzz/model-config/crashes/sizes-overflow"))
        let json = input.prefix(while: { $0 != 0x0A })
        let config = try JSONDecoder().decode(SmolVLMConfig.self, from: json)
        let problems = config.problems().joined(separator: "\n")
        #expect(problems.contains("vision_config.hidden_size is 1099511627776, more than the 1048576 Vigil accepts"))
        #expect(problems.contains("text_config.max_position_embeddings is 1125899906842624"))
        #expect(problems.contains("vision_config.image_size is 1073741824, more than the 16384"))
    }

    @Test("a config whose tensors are absent is an error before any tensor is built")
    func missingTensorsAllocateNothing() throws {
        // Sizes within the bounds but 64 GiB of weights: the old loader allocated a zero placeholder for each
        // missing tensor; now the file is checked first and the error lists what is missing.
        var text = ModelPreset.smolvlm2_256m.config.textConfig
        text.hiddenSize = 1 << 17
        text.intermediateSize = 1 << 17
        text.numAttentionHeads = 2048
        text.numKeyValueHeads = 2048
        let config = SmolVLMConfig(
            imageTokenID: 49190, scaleFactor: 4, tieWordEmbeddings: true,
            visionConfig: ModelPreset.smolvlm2_256m.config.visionConfig, textConfig: text)
        #expect(config.problems().isEmpty)
        let weights = InMemoryWeights(location: "empty.safetensors", tensors: [:])
        let error = try #require(throws: CheckpointError.self) { try SmolVLMModel(config: config, weights: weights) }
        #expect(error.problems.contains("missing tensor model.text_model.embed_tokens.weight [49280, 131072]"))
        #expect(error.location == "empty.safetensors")
    }

    @Test("processor configs with enormous sizes are refused, naming the file and key")
    func processorSizes() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let cases = [
            (#"{"size": {"longest_edge": 1099511627776}}"#, "longest_edge is 1099511627776"),
            (#"{"size": {"height": 100000, "width": 10}}"#, "height is 100000 pixels; at most 4096"),
            (#"{"max_image_size": {"longest_edge": 65536}}"#, "max_image_size.longest_edge is 65536"),
        ]
        for (json, message) in cases {
            let url = folder.appendingPathComponent("preprocessor_config.json")
            try Data(json.utf8).write(to: url)
            let error = try #require(throws: ProcessingError.self) { try PreprocessorConfig.load(from: url) }
            #expect(error.description.contains(message), "\(json)")
            #expect(error.description.contains(url.path))
        }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("preprocessor_config.json"))
        let processor = folder.appendingPathComponent("processor_config.json")
        try Data(#"{"image_seq_len": 1099511627776}"#.utf8).write(to: processor)
        #expect(throws: ProcessingError.self) { try ProcessorConfig.load(from: processor) }
        let error = try #require(throws: ProcessingError.self) {
            try ProcessorSettings.load(from: folder, tileSize: 512)
        }
        #expect(error.description.contains("image_seq_len must be an integer from 1 to 65536"))
    }

    @Test("video prompts with times from a damaged file are clamped, never trap")
    func promptTimes() {
        let huge = PromptBuilder.videoBlock(timestamps: [1e300, -1e300, .nan, 9.3e18], duration: 1e300, imageSeqLen: 1)
        #expect(huge.contains("999999999 days, 23:59:59 [H:MM:SS] video"))
        #expect(huge.contains("Frame from 1439999999999:59:"))
        let infinite = PromptBuilder.videoBlock(timestamps: [.infinity], duration: -.infinity, imageSeqLen: 1)
        #expect(infinite.contains("from a 0:00:00 [H:MM:SS] video") && infinite.contains("Frame from 00:00:"))
        // Ordinary times are unchanged.
        #expect(PromptBuilder.videoBlock(timestamps: [65], duration: 3725, imageSeqLen: 1).contains("1:02:05"))
    }
}
