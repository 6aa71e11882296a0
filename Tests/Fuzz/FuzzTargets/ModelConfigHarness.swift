// Fuzz harness: the JSON files of a model folder. Parts: config.json, generation_config.json,
// preprocessor_config.json, processor_config.json (an empty part leaves that file out). The folder also holds an
// empty but valid model.safetensors, so the model loader goes all the way to checking every tensor the config
// implies (each missing) — which must not allocate what the config claims. The processor settings are then used
// on a small image and a video frame, as a model would use them.

import Foundation
import SmolVLM
import VigilCore

enum ModelConfigHarness {
    /// An 8-byte length and the header `{}`: a safetensors file with no tensors.
    private static let emptyWeights: [UInt8] = [2, 0, 0, 0, 0, 0, 0, 0] + Array("{}".utf8)

    /// A 23×17 gradient image (odd sizes, so resizing rounds).
    private static let image: RGBImage = {
        var bytes = [UInt8](repeating: 0, count: 23 * 17 * 3)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 7) }
        return RGBImage(width: 23, height: 17, pixels: bytes)
    }()

    static func run(_ input: [UInt8]) {
        let parts = FuzzInput.parts(input, count: 4)
        let folder = Scratch.emptyFolder("model-config")
        for (name, part) in zip(
            ["config.json", "generation_config.json", "preprocessor_config.json", "processor_config.json"], parts)
        where !part.isEmpty {
            Scratch.write(part, to: name, in: folder)
        }
        Scratch.write(emptyWeights, to: "model.safetensors", in: folder)

        if let config = try? JSONDecoder().decode(SmolVLMConfig.self, from: Data(parts[0])) {
            if config.problems().isEmpty {
                _ = config.tokensPerFrame
                _ = try? SmolVLMModel.expectedShapes(config)
            }
        }
        _ = try? SmolVLMModel.load(from: folder)
        _ = try? PreprocessorConfig.load(from: folder.appendingPathComponent("preprocessor_config.json"))
        _ = try? ProcessorConfig.load(from: folder.appendingPathComponent("processor_config.json"))
        guard let settings = try? ProcessorSettings.load(from: folder, tileSize: 32) else { return }
        // Resizing to the released configs' 2048-pixel edge and 512-pixel tiles takes seconds under the address
        // sanitizer; the fuzzer resizes only configs whose sizes stay small (larger ones are bounded by the limits
        // the configs enforce, which the decoding above exercises).
        let p = settings.preprocessor
        let sizes = [p.size, p.videoFrameSize].map { max($0.longestEdge ?? 0, $0.height ?? 0, $0.width ?? 0) }
        guard p.maxImageSize <= 256, sizes.allSatisfy({ $0 <= 512 }) else { return }
        let processor = ImageProcessor(config: p)
        _ = processor.process(image)
        _ = processor.processVideoFrame(image)
    }
}
