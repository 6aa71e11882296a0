// Fuzz harness: safetensors files. Parts: the file, an optional `model.safetensors.index.json` (then every shard is
// the same file), and an optional data length in decimal. When the file part starts with "{" it is a JSON header
// that the harness frames as a file (length prefix) followed by that many zero bytes of data, so the fuzzer reaches
// the tensor table checks and the checked weight loading of the tiny SmolVLM config without writing the framing.

import Foundation
import SmolVLM

enum SafeTensorsHarness {
    /// The tiny test model's config (its shapes are small, so matching tensors are small).
    private static let tinyConfig: SmolVLMConfig? = {
        guard let data = try? Data(contentsOf: Repository.fixture("smolvlm/tiny/config.json")) else { return nil }
        return try? JSONDecoder().decode(SmolVLMConfig.self, from: data)
    }()

    static func run(_ input: [UInt8]) {
        let parts = FuzzInput.parts(input, count: 3)
        var file = parts[0]
        if file.first == UInt8(ascii: "{") {
            let extra = Int(FuzzInput.text(parts[2]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            var framed = withUnsafeBytes(of: UInt64(file.count).littleEndian) { Array($0) }
            framed += file
            framed += [UInt8](repeating: 0, count: min(max(extra, 0), 4 << 20))
            file = framed
        }
        let folder = Scratch.emptyFolder("safetensors")
        if parts[1].isEmpty {
            let url = Scratch.write(file, to: "model.safetensors", in: folder)
            if let tensors = try? SafeTensorsFile(url: url) { readBack(tensors) }
        } else {
            Scratch.write(parts[1], to: "model.safetensors.index.json", in: folder)
            for shard in ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"] {
                Scratch.write(file, to: shard, in: folder)
            }
        }
        guard let weights = try? SafeTensorsWeights(folder: folder) else { return }
        for name in weights.names.sorted().prefix(64) {
            _ = weights.shape(of: name)
            _ = weights.tensor(name)
        }
        if let tinyConfig { _ = try? SmolVLMModel(config: tinyConfig, weights: weights) }
    }

    /// Reads every entry back in each form.
    private static func readBack(_ file: SafeTensorsFile) {
        _ = file.metadata.count
        for name in file.entries.keys.sorted().prefix(64) {
            _ = file.floatTensor(name)
            _ = file.integers(name)
            _ = file.bytes(name)
        }
    }
}
