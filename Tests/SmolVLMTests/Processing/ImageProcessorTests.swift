// ImageProcessor and its configs against transformers 5.24 `SmolVLMImageProcessorPil` / `SmolVLMVideoProcessor`
// goldens: uint8 tiles exactly, float pixel values within 1e-6.

import Foundation
import Kernels
import Testing
import TestSupport
import VigilCore

@testable import SmolVLM

@Suite(.holdingSerialLock) struct ImageProcessorTests {}

extension ImageProcessorTests {
    @Test func stillImagesMatchTheReferenceProcessor() throws {
        let goldens = try PreprocessGoldens.load()
        #expect(goldens.cases.processor.count >= 20)
        for c in goldens.cases.processor {
            let processor = ImageProcessor(config: try goldens.config(c.config))
            let out = processor.process(c.source.image)
            #expect(out.rows == c.rows && out.cols == c.cols, "\(c.name): grid \(out.rows)×\(out.cols)")
            #expect(out.frameCount == c.frames, "\(c.name): \(out.frameCount) frames, expected \(c.frames)")
            #expect(out.pixelValues.shape == [c.frames, 3, c.tileHeight, c.tileWidth], "\(c.name)")
            guard out.frameCount == c.frames else { continue }
            for (n, tile) in out.resizedTiles.enumerated() {
                #expect(polyhash64(tile.pixels) == c.tileHashes[n], "\(c.name): tile \(n) differs")
            }
            let tileProblems = try compareBytes(out.resizedTiles.flatMap(\.pixels), with: c.tiles, in: goldens)
            #expect(tileProblems.isEmpty, "\(c.name): \(tileProblems.joined(separator: "; "))")
            let pixels = UnsafeBufferPointer(start: out.pixelValues.floats, count: out.pixelValues.count)
            let diff = try maxFloatDifference(pixels, from: c.pixels, in: goldens)
            #expect(diff <= 1e-6, "\(c.name): pixel values differ by \(diff)")
        }
    }

    @Test func videoFramesMatchTheReferenceVideoProcessor() throws {
        // SmolVLMVideoProcessor with torchvision ≥ 0.27 on CPU: torch's uint8 LANCZOS, twice, then fused normalisation.
        let goldens = try PreprocessGoldens.load()
        #expect(goldens.cases.videoFrames.count >= 10)
        for c in goldens.cases.videoFrames {
            let processor = ImageProcessor(config: try goldens.config(c.config))
            let (tile, pixels) = processor.processVideoFrame(c.source.image)
            #expect(tile.width == c.side && tile.height == c.side, "\(c.name)")
            #expect(pixels.shape == [3, c.side, c.side], "\(c.name)")
            let problems = try compareBytes(tile.pixels, with: c.tile, in: goldens)
            #expect(problems.isEmpty, "\(c.name): \(problems.joined(separator: "; "))")
            let values = UnsafeBufferPointer(start: pixels.floats, count: pixels.count)
            let diff = try maxFloatDifference(values, from: c.pixels, in: goldens)
            #expect(diff <= 1e-6, "\(c.name): pixel values differ by \(diff)")
        }
    }

    @Test func videoFramesCanUsePillowArithmetic() throws {
        let goldens = try PreprocessGoldens.load()
        for c in goldens.cases.videoFrames {
            let processor = ImageProcessor(config: try goldens.config(c.config), videoArithmetic: .pillow)
            let tile = processor.processVideoFrame(c.source.image).tile
            let problems = try compareBytes(tile.pixels, with: c.pillowTile, in: goldens)
            #expect(problems.isEmpty, "\(c.name): \(problems.joined(separator: "; "))")
        }
    }

    @Test func theReleasedConfigSplits640x480Into4By3TilesPlusGlobal() throws {
        let out = ImageProcessor(config: .smolVLM2).process(SourceImages.make("gradient", width: 640, height: 480))
        #expect(out.rows == 3 && out.cols == 4)
        #expect(out.pixelValues.shape == [13, 3, 512, 512])
        let values = out.pixelValues.toArray()
        #expect(values.min()! >= -1 && values.max()! <= 1)
    }

    @Test func unsplitImagesAreSquashedToOneTile() {
        var config = PreprocessorConfig.smolVLM2
        config.doImageSplitting = false
        let out = ImageProcessor(config: config).process(SourceImages.make("noise", width: 300, height: 100))
        #expect(out.rows == 0 && out.cols == 0 && out.frameCount == 1)
        #expect(out.pixelValues.shape == [1, 3, 512, 512])
    }

    @Test func outputSizesFollowTheReferenceRules() {
        #expect(ImageProcessor.longestEdgeSize(height: 480, width: 640, longestEdge: 2048) == (1536, 2048))
        #expect(ImageProcessor.longestEdgeSize(height: 1080, width: 1920, longestEdge: 2048) == (1152, 2048))
        // Short side truncated, then made even.
        #expect(ImageProcessor.longestEdgeSize(height: 333, width: 517, longestEdge: 2048) == (1320, 2048))
        #expect(ImageProcessor.longestEdgeSize(height: 700, width: 1, longestEdge: 2048) == (2048, 2))  // int(2.93) = 2
        #expect(ImageProcessor.longestEdgeSize(height: 1, width: 1, longestEdge: 2048) == (2048, 2048))
        #expect(ImageProcessor.visionEncoderSize(height: 1152, width: 2048, tileSide: 512) == (1536, 2048))
        #expect(ImageProcessor.visionEncoderSize(height: 2048, width: 1, tileSide: 512) == (2048, 512))
    }
}

// MARK: - Configs

extension ImageProcessorTests {
    @Test func releasedConfigDecodes() throws {
        let goldens = try PreprocessGoldens.load()
        let config = try goldens.config("real")
        #expect(config == .smolVLM2)
        #expect(config.size.longestEdge == 2048 && config.maxImageSize == 512)
        #expect(config.rescaleFactor == 1.0 / 255.0)
        #expect(config.videoSampling == .init(fps: 1, maxFrames: 64, videoSize: .init(longestEdge: 512)))
        // transformers 5.24 lets the top-level size override video_sampling.video_size.
        #expect(config.videoFrameSize.longestEdge == 2048)
    }

    @Test func absentKeysTakeTheTransformersClassDefaults() throws {
        let config = try JSONDecoder().decode(PreprocessorConfig.self, from: Data("{}".utf8))
        #expect(config.size.longestEdge == 4 * 364)
        #expect(config.maxImageSize == 364)
        #expect(config.resample == 1 && config.doResize && config.doImageSplitting && config.doPad)
        #expect(config.doRescale && config.doNormalize && config.rescaleFactor == 1.0 / 255.0)
        #expect(config.imageMean == [0.5, 0.5, 0.5] && config.imageStd == [0.5, 0.5, 0.5])
        #expect(config.videoSampling == nil)
        let processor = try JSONDecoder().decode(ProcessorConfig.self, from: Data("{}".utf8))
        #expect(processor.imageSeqLen == 169)
    }

    @Test func videoFramesUseVideoSizeWithoutATopLevelSize() throws {
        let goldens = try PreprocessGoldens.load()
        let config = try goldens.config("tiny_nosize")
        #expect(config.videoFrameSize.longestEdge == 96)
        #expect(config.imageMean[0] == 0.48145466)
    }

    @Test func badConfigsThrowReadableErrors() throws {
        let cases: [(String, String)] = [
            (#"{"resample": 3}"#, "LANCZOS"),
            (#"{"max_image_size": {"height": 5, "width": 5}}"#, "longest_edge"),
            (#"{"image_mean": [0.5, 0.5]}"#, "3"),
            (#"{"image_std": [0.5, 0, 0.5]}"#, "zero"),
            (#"{"size": {}}"#, "longest_edge"),
            (#"{"video_sampling": {"max_frames": 0}}"#, "max_frames"),
        ]
        for (json, needle) in cases {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-prep-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let url = directory.appendingPathComponent("preprocessor_config.json")
            try Data(json.utf8).write(to: url)
            do {
                _ = try PreprocessorConfig.load(from: url)
                Issue.record("\(json) should not decode")
            } catch let error as ProcessingError {
                #expect(error.description.contains(url.path), "\(error)")
                #expect(error.description.contains(needle), "\(json): \(error)")
            }
        }
    }

    @Test func missingFilesNameThePath() {
        let url = URL(fileURLWithPath: "/nonexistent/vigil/processor_config.json")
        #expect(throws: ProcessingError.self) { try ProcessorConfig.load(from: url) }
        do {
            _ = try ProcessorConfig.load(from: url)
        } catch {
            #expect("\(error)".contains("/nonexistent/vigil/processor_config.json"))
        }
    }

    @Test func processorConfigReadsImageSeqLen() throws {
        let goldens = try PreprocessGoldens.load()
        _ = goldens
        let config = try JSONDecoder().decode(
            ProcessorConfig.self, from: Data(#"{"image_seq_len": 64, "processor_class": "SmolVLMProcessor"}"#.utf8))
        #expect(config == .smolVLM2)
    }

    @Test func configsRoundTripThroughJSON() throws {
        let data = try JSONEncoder().encode(PreprocessorConfig.smolVLM2)
        #expect(try JSONDecoder().decode(PreprocessorConfig.self, from: data) == .smolVLM2)
    }
}
