// The whole input side against transformers on both tiny checkpoints: each folder's processor files load (Hub
// layout for A, transformers 5.24's nested layout for B), the decoded input becomes exactly the golden uint8 tiles
// (PIL LANCZOS, bit for bit) and pixel values (within 1e-6), and the prompt built in code tokenizes to exactly the
// golden input ids. Video frames follow the goldens' PIL resampling (see Tests/Fixtures/README.md). Cases that do
// not store pixel_values are compared with the golden tiles through the processor's formula
// (`GoldenCase.pixelValues`), which must equal the stored pixel_values exactly where they are stored.

import Foundation
import Kernels
import Testing
import TestSupport
import Tokenization
import VigilCore

@testable import SmolVLM

@Suite struct ProcessorParityTests {
    static func image(_ golden: GoldenCase, _ name: String, frame: Int? = nil) throws -> RGBImage {
        let entry = try #require(golden.tensors.entries[name])
        let bytes = try #require(golden.tensors.bytes(name))
        let (h, w) = (entry.shape[entry.shape.count - 3], entry.shape[entry.shape.count - 2])
        let start = (frame ?? 0) * h * w * 3
        return RGBImage(width: w, height: h, pixels: Array(bytes[start..<(start + h * w * 3)]))
    }

    @Test(arguments: ["tiny", "tiny-realtok"], ParityTests.cases)
    func inputsBecomeTheGoldenPixelsAndIds(checkpoint: String, caseName: String) throws {
        let folder = Fixtures.url("smolvlm/\(checkpoint)")
        let model = try SmolVLMModel.load(from: folder)
        var settings = try ProcessorSettings.load(from: folder, tileSize: model.config.visionConfig.imageSize)
        #expect(settings.imageSeqLen == model.tokensPerFrame)
        let golden = try GoldenCase(checkpoint: checkpoint, name: caseName)
        let tokenizer = try Tokenizer(contentsOf: folder.appendingPathComponent("tokenizer.json"))
        let text = golden.info["text"] as! String
        let expectedTiles = try #require(golden.tensors.bytes("pixels_u8"))
        let expectedValues = try golden.pixelValues().toArray()
        if golden.has("pixel_values") {
            let entry = try #require(golden.tensors.entries["pixels_u8"])
            let restated = GoldenCase.pixelValues(
                fromTiles: expectedTiles, frames: entry.shape[0], height: entry.shape[1], width: entry.shape[2])
            #expect(restated == expectedValues, "the restated formula differs from transformers' pixel_values")
        }
        let prompt: String
        var tiles: [UInt8] = []
        var values: [Float] = []
        if caseName == "video" {
            let video = golden.info["video"] as! [String: Any]
            let indices = VideoFrameSampler.indices(
                totalFrames: video["total_frames"] as! Int, sourceFPS: Double(video["fps"] as! Int), fps: 1,
                maxFrames: 64)
            #expect(indices == video["frame_indices"] as! [Int])
            let processor = ImageProcessor(config: settings.preprocessor, videoArithmetic: .pillow)
            for f in 0..<indices.count {
                let frame = processor.processVideoFrame(try Self.image(golden, "source_u8", frame: f))
                tiles += frame.tile.pixels
                values += frame.pixels.toArray()
            }
            prompt = PromptBuilder.videoPrompt(
                text: text, timestamps: VideoFrameSampler.timestamps(indices: indices, sourceFPS: 30),
                duration: video["duration_s"] as! Double, imageSeqLen: model.tokensPerFrame)
        } else {
            let image = golden.info["image"] as! [String: Any]
            settings.preprocessor.doImageSplitting = image["do_image_splitting"] as! Bool
            let processed = ImageProcessor(config: settings.preprocessor).process(try Self.image(golden, "source_u8"))
            #expect(processed.rows == image["rows"] as! Int && processed.cols == image["cols"] as! Int)
            tiles = processed.resizedTiles.flatMap(\.pixels)
            values = processed.pixelValues.toArray()
            prompt = PromptBuilder.imagePrompt(
                text: text, rows: processed.rows, cols: processed.cols, imageSeqLen: model.tokensPerFrame)
        }
        #expect(tiles == expectedTiles, "uint8 tiles differ")
        #expect(maxAbsDifference(values, expectedValues) < 1e-6)
        #expect(prompt == golden.info["prompt"] as! String)
        #expect(tokenizer.encode(prompt) == golden.ints("input_ids"))
    }
}
