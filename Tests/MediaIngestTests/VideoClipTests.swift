// VideoClip: frame counts and rates by decoding, frames by decode index.

import MediaIngest
import TestSupport
import Testing

@Suite struct VideoClipTests {}

extension VideoClipTests {
    @Test func countAndRateComeFromDecoding() throws {
        let cfr = try VideoClip.frameCountAndRate(try MediaFixtures.path(.h264At30))
        #expect(cfr.count == 300)
        #expect(abs(cfr.fps - 30) < 1e-9 && abs(cfr.duration - 10) < 1e-9)
        let mkv = try VideoClip.frameCountAndRate(try MediaFixtures.path(.h264At25Matroska))
        #expect(mkv.count == 200 && abs(mkv.fps - 25) < 1e-9)
        let vfr = try VideoClip.frameCountAndRate(try MediaFixtures.path(.variableRate))
        #expect(vfr.count == MediaClip.variableRate.frameTimes!.count)
    }

    @Test func framesAtIndicesAreTheDecodedFrames() throws {
        let frames = try VideoClip.frames(try MediaFixtures.path(.h264At30), atIndices: [299, 0, 150, 150])
        #expect(frames.map(\.index) == [0, 150, 299])
        #expect(frames.map(\.time.seconds) == [0, 5, 299.0 / 30])
        #expect(frames.allSatisfy { $0.image.width == 320 && $0.image.height == 240 })
    }

    @Test func rotatedClipFramesAreUpright() throws {
        let frames = try VideoClip.frames(try MediaFixtures.path(.quadrantsRotatedMinus90), atIndices: [10])
        expectUprightQuadrants(frames[0].image, "clip frame 10")
    }

    @Test func anIndexPastTheEndIsAnError() throws {
        #expect(
            throws: MediaError.frameIndexOutOfRange(
                source: try MediaFixtures.path(.quadrants), index: 90, frameCount: 90)
        ) {
            try VideoClip.frames(try MediaFixtures.path(.quadrants), atIndices: [3, 90])
        }
    }
}
