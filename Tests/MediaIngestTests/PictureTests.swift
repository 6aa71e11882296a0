// Pixels: rotation metadata applied (frames come out upright), colours right for limited and full range, 10-bit
// and odd sizes, on the four-quadrant clips (red, green / blue, white).

import MediaIngest
import TestSupport
import Testing
import VigilCore

/// The colour of each quadrant, top-left, top-right, bottom-left, bottom-right.
let quadrantColours: [(r: Int, g: Int, b: Int)] = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]

/// Checks that `image` shows the four quadrants upright (sampled at the quadrant centres, ±`tolerance`).
func expectUprightQuadrants(_ image: RGBImage, tolerance: Int = 12, _ note: String) {
    let points = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)]
    for ((fx, fy), want) in zip(points, quadrantColours) {
        let pixel = image[Int(Double(image.width) * fx), Int(Double(image.height) * fy)]
        let close =
            abs(Int(pixel.r) - want.r) <= tolerance && abs(Int(pixel.g) - want.g) <= tolerance
            && abs(Int(pixel.b) - want.b) <= tolerance
        #expect(close, "\(note): at (\(fx), \(fy)) got \(pixel), want \(want)")
    }
}

@Suite struct PictureTests {
    static let quadrantClips: [MediaClip] = [
        .quadrants, .quadrantsRotatedPlus90, .quadrantsRotatedMinus90, .quadrantsRotated180, .quadrantsFullRange,
        .quadrants10Bit, .quadrantsOddSize,
    ]
}

extension PictureTests {
    @Test(arguments: quadrantClips)
    func framesComeOutUprightInTheirColours(clip: MediaClip) async throws {
        let frames = try await readAll(try MediaFixtures.path(clip)).frames
        #expect(frames.count == 3)
        let first = try #require(frames.first)
        let expected = clip == .quadrantsOddSize ? (321, 241) : (320, 240)
        #expect(first.image.width == expected.0 && first.image.height == expected.1, "\(clip.rawValue)")
        expectUprightQuadrants(first.image, clip.rawValue)
    }

    @Test(arguments: [MediaClip.quadrantsRotatedPlus90, .quadrantsRotatedMinus90])
    func scaledRotatedFramesStayUpright(clip: MediaClip) async throws {
        let path = try MediaFixtures.path(clip)
        let square = try await readAll(path, options: IngestOptions(size: .square(64))).frames[0].image
        #expect(square.width == 64 && square.height == 64)
        expectUprightQuadrants(square, "\(clip.rawValue) 64x64")
        let fitted = try await readAll(path, options: IngestOptions(size: .fitLongEdge(160))).frames[0].image
        #expect(fitted.width == 160 && fitted.height == 120)
        expectUprightQuadrants(fitted, "\(clip.rawValue) fit 160")
    }

    @Test(arguments: [
        (MediaClip.quadrants, 0, 320, 240), (.quadrantsRotatedPlus90, 90, 240, 320),
        (.quadrantsRotatedMinus90, -90, 240, 320), (.quadrantsOddSize, 0, 321, 241),
    ])
    func probeReportsTheDisplayedSizeAndTheRotation(clip: MediaClip, rotation: Int, codedWidth: Int, codedHeight: Int)
        throws
    {
        let result = try probe(try MediaFixtures.path(clip))
        #expect(result.rotation == rotation)
        #expect(result.codedWidth == codedWidth && result.codedHeight == codedHeight)
        let displayed = rotation == 0 ? (codedWidth, codedHeight) : (codedHeight, codedWidth)
        #expect(result.width == displayed.0 && result.height == displayed.1)
    }

    @Test func halfTurnProbesAsAHalfTurn() throws {
        let result = try probe(try MediaFixtures.path(.quadrantsRotated180))
        #expect(abs(result.rotation) == 180)
        #expect(result.width == 320 && result.height == 240)
    }
}
