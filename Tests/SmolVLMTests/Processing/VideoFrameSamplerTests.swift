// VideoFrameSampler (and the Python numerics under it) against transformers 5.24 `sample_frames` goldens.

import Foundation
import Testing

@testable import SmolVLM

@Suite struct VideoFrameSamplerTests {}

extension VideoFrameSamplerTests {
    @Test func matchesSampleFramesOnEveryGoldenCase() throws {
        let goldens = try PreprocessGoldens.load()
        #expect(goldens.cases.sampler.count >= 30)
        for c in goldens.cases.sampler {
            let indices = VideoFrameSampler.indices(
                totalFrames: c.totalFrames, sourceFPS: c.sourceFPS, fps: c.fps, maxFrames: c.maxFrames)
            let label = "\(c.totalFrames) frames @\(c.sourceFPS), fps \(c.fps), max \(c.maxFrames)"
            #expect(indices == c.indices, "\(label)")
            #expect(VideoFrameSampler.timestamps(indices: indices, sourceFPS: c.sourceFPS) == c.timestamps, "\(label)")
            #expect(Double(c.totalFrames) / c.sourceFPS == c.duration, "\(label)")
        }
    }

    @Test func briefExamples() {
        #expect(VideoFrameSampler.indices(totalFrames: 90, sourceFPS: 30, fps: 1, maxFrames: 64) == [0, 44, 89])
        #expect(VideoFrameSampler.indices(totalFrames: 900, sourceFPS: 30, fps: 1, maxFrames: 64).count == 30)
        let long = VideoFrameSampler.indices(totalFrames: 2500, sourceFPS: 25, fps: 1, maxFrames: 64)
        #expect(long.count == 64 && long.first == 25 && long.last == 2475)
    }

    @Test func roundsHalfToEven() {
        // 75 frames at 30 fps = 2.5 s → round(2.5) = 2 frames; 45 frames = 1.5 s → 2 frames.
        #expect(VideoFrameSampler.indices(totalFrames: 75, sourceFPS: 30, fps: 1, maxFrames: 64).count == 2)
        #expect(VideoFrameSampler.indices(totalFrames: 45, sourceFPS: 30, fps: 1, maxFrames: 64).count == 2)
        #expect(PythonNumerics.round(0.5) == 0 && PythonNumerics.round(1.5) == 2 && PythonNumerics.round(-2.5) == -2)
    }

    @Test func emptyOrBrokenVideosGiveNoFrames() {
        #expect(VideoFrameSampler.indices(totalFrames: 0, sourceFPS: 30, fps: 1, maxFrames: 64).isEmpty)
        #expect(VideoFrameSampler.indices(totalFrames: 10, sourceFPS: 0, fps: 1, maxFrames: 64).isEmpty)
        #expect(VideoFrameSampler.indices(totalFrames: 10, sourceFPS: .nan, fps: 1, maxFrames: 64).isEmpty)
        #expect(VideoFrameSampler.indices(totalFrames: 1, sourceFPS: 30, fps: 1, maxFrames: 64) == [0])
    }

    @Test func pythonFloorDivisionAndModulo() {
        #expect(PythonNumerics.divmod(125.5, 60) == (2, 5.5))
        #expect(PythonNumerics.divmod(-1, 60) == (-1, 59))
        #expect(PythonNumerics.divmod(59.999, 60).quotient == 0)
        #expect(PythonNumerics.linspace(25, 2475, 64).first == 25 && PythonNumerics.linspace(25, 2475, 64).last == 2475)
        #expect(PythonNumerics.linspace(3, 3, 1) == [3])
    }
}
