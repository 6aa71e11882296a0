// Damaged checkpoints give one CheckpointError that lists every problem and names the file — never a crash:
// missing tensors, wrong shapes, unexpected tensors, a truncated safetensors file, invalid JSON, an unknown model
// type, inconsistent sizes.

import Foundation
import Testing
import TestSupport

@testable import SmolVLM

@Suite struct CheckpointErrorTests {
    /// A copy of checkpoint A in a temporary folder, with `model.safetensors` rewritten by `edit`.
    static func damagedCopy(
        editTensors: ((inout [SafeTensorsEntryData]) -> Void)? = nil, editConfig: ((inout [String: Any]) -> Void)? = nil
    ) throws -> URL {
        let source = Fixtures.url("smolvlm/tiny")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-damaged-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in ["config.json", "generation_config.json", "model.safetensors"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        if let editTensors {
            let file = try SafeTensorsFile(url: source.appendingPathComponent("model.safetensors"))
            var entries = file.entries.keys.sorted().map { name in
                let e = file.entries[name]!
                return SafeTensorsEntryData(name: name, dtype: e.dtype, shape: e.shape, bytes: Data(file.bytes(name)!))
            }
            editTensors(&entries)
            try SafeTensorsWriter.data(entries).write(to: folder.appendingPathComponent("model.safetensors"))
        }
        if let editConfig {
            let url = folder.appendingPathComponent("config.json")
            var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            editConfig(&json)
            try JSONSerialization.data(withJSONObject: json).write(to: url)
        }
        return folder
    }

    static func error(loading folder: URL) -> CheckpointError? {
        do {
            _ = try SmolVLMModel.load(from: folder)
            return nil
        } catch let e as CheckpointError {
            return e
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }

    @Test func everyTensorProblemIsListedInOneError() throws {
        let folder = try Self.damagedCopy { entries in
            entries.removeAll { $0.name == "model.text_model.layers.1.mlp.down_proj.weight" }
            let i = entries.firstIndex { $0.name == "model.vision_model.post_layernorm.weight" }!
            entries[i].shape = [32, 2]  // same bytes, wrong shape
            entries.append(SafeTensorsEntryData(name: "model.extra.weight", dtype: "F32", shape: [1], bytes: Data(count: 4)))
        }
        let error = try #require(Self.error(loading: folder))
        #expect(error.problems.count == 3)
        let text = error.description
        #expect(text.contains("missing tensor model.text_model.layers.1.mlp.down_proj.weight"))
        #expect(text.contains("model.vision_model.post_layernorm.weight has shape [32, 2], expected [64]"))
        #expect(text.contains("model.extra.weight"))
        #expect(text.contains(folder.path))
    }

    @Test func truncatedWeightsAreReported() throws {
        let folder = try Self.damagedCopy()
        let url = folder.appendingPathComponent("model.safetensors")
        let data = try Data(contentsOf: url)
        for keep in [4, 100, data.count / 2, data.count - 1] {
            try data.prefix(keep).write(to: url)
            let error = try #require(Self.error(loading: folder), "prefix \(keep)")
            #expect(error.description.contains("model.safetensors"))
        }
    }

    @Test func badJSONAndUnknownModelTypeAreReported() throws {
        let folder = try Self.damagedCopy()
        try Data("{ not json".utf8).write(to: folder.appendingPathComponent("config.json"))
        #expect(Self.error(loading: folder)?.description.contains("not valid JSON") == true)

        let unknown = try Self.damagedCopy(editConfig: { $0["model_type"] = "llava" })
        #expect(Self.error(loading: unknown)?.description.contains("model_type 'llava' is not supported") == true)

        let inconsistent = try Self.damagedCopy(editConfig: { json in
            var text = json["text_config"] as! [String: Any]
            text["num_key_value_heads"] = 3  // 4 heads are not a multiple of 3
            text["hidden_act"] = "relu"
            json["text_config"] = text
        })
        let error = try #require(Self.error(loading: inconsistent))
        #expect(error.problems.count == 2)

        let wrongType = try Self.damagedCopy(editConfig: { json in
            var text = json["text_config"] as! [String: Any]
            text["hidden_size"] = "sixty-four"
            json["text_config"] = text
        })
        #expect(Self.error(loading: wrongType)?.description.contains("text_config.hidden_size") == true)
    }

    /// The config variants transformers 5.24 parses (Tests/Fixtures/smolvlm/configs/expected.json) load with the
    /// same values: idefics3, 4.x `rope_theta`, 5.x `rope_parameters`, both spellings, and the real 256M/500M files,
    /// whose tensor inventories (`tensors.txt`, 471 and 489 tensors) equal what the loader asks for.
    @Test func configVariantsLoadAsTransformersParsesThem() throws {
        let root = Fixtures.url("smolvlm/configs")
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("expected.json"))) as! [String: Any]
        var checked = 0
        for (path, value) in expected where path.hasSuffix("config.json") && !path.contains("transformers-5.24-save") {
            let want = value as! [String: Any]
            let config = try JSONDecoder().decode(SmolVLMConfig.self, from: Data(contentsOf: root.appendingPathComponent(path)))
            let text = want["text"] as! [String: Any], vision = want["vision"] as! [String: Any]
            #expect(config.modelType == want["model_type"] as! String, "\(path)")
            #expect(config.imageTokenID == want["image_token_id"] as! Int, "\(path)")
            #expect(config.scaleFactor == want["scale_factor"] as! Int, "\(path)")
            #expect(config.tieWordEmbeddings == want["tie_word_embeddings"] as! Bool, "\(path)")
            #expect(config.textConfig.ropeTheta == (text["rope_theta"] as! NSNumber).doubleValue, "\(path)")
            #expect(config.textConfig.rmsNormEps == (text["rms_norm_eps"] as! NSNumber).doubleValue, "\(path)")
            #expect(config.textConfig.hiddenSize == text["hidden_size"] as! Int, "\(path)")
            #expect(config.textConfig.numKeyValueHeads == text["num_key_value_heads"] as! Int, "\(path)")
            #expect(config.textConfig.headDim == text["head_dim"] as! Int, "\(path)")
            #expect(config.visionConfig.imageSize == vision["image_size"] as! Int, "\(path)")
            #expect(config.visionConfig.patchSize == vision["patch_size"] as! Int, "\(path)")
            #expect(config.problems().isEmpty, "\(path)")
            let inventory = root.appendingPathComponent(path).deletingLastPathComponent().appendingPathComponent("tensors.txt")
            if let listing = try? String(contentsOf: inventory, encoding: .utf8) {
                var stored: [String: [Int]] = [:]
                for line in listing.split(separator: "\n") {
                    let parts = line.split(separator: " ", maxSplits: 2)
                    let dims = parts[2].dropFirst().dropLast().split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces))! }
                    stored[String(parts[0])] = dims
                }
                #expect(try SmolVLMModel.expectedShapes(config) == stored, "\(path) inventory")
                #expect(stored.count == want["stored_tensors"] as! Int)
            }
            checked += 1
        }
        #expect(checked >= 6)
        #expect(try SmolVLMModel.expectedShapes(ModelPreset.smolvlm2_256m.config).count == 471)
        #expect(try SmolVLMModel.expectedShapes(ModelPreset.smolvlm2_500m.config).count == 489)
    }
}
