// The same checks over the real-world clips of `<repo>/../shared/media/real` (MANIFEST.md there): each probes with
// the manifest's displayed size and rotation, decodes to the manifest's frame count, samples with strictly
// increasing times from 0, and (rotated clips) matches the ffmpeg CLI's autorotated picture. The folder is
// read-only; nothing is written there.

import Foundation
import MediaIngest
import TestSupport
import Testing
import VigilCore

/// One row of the manifest: file, displayed size, display-matrix rotation, frames decoded, chosen stream.
struct RealClip: Sendable, CustomTestStringConvertible {
    let file: String
    let width: Int
    let height: Int
    let rotation: Int
    let frames: Int
    let stream: Int

    var testDescription: String { file }

    init(_ file: String, _ width: Int, _ height: Int, rotation: Int = 0, frames: Int, stream: Int = 0) {
        self.file = file
        self.width = width
        self.height = height
        self.rotation = rotation
        self.frames = frames
        self.stream = stream
    }

    /// MANIFEST.md, "Technical table" (display size, rotation, frames decoded).
    static let all: [RealClip] = [
        RealClip("office_h264.mp4", 1080, 720, frames: 30),
        RealClip("office_av1.mp4", 1080, 720, frames: 30),
        RealClip("office_fmp4_nodur.mp4", 1080, 720, frames: 30),
        RealClip("pixel_motion_hevc.mp4", 768, 1024, rotation: -90, frames: 58),
        RealClip("pixel_selfie_hevc.mp4", 1080, 1440, rotation: 90, frames: 53),
        RealClip("portrait_4k60.mp4", 2160, 3840, rotation: -90, frames: 18),
        RealClip("iphone_dv_hevc10.mov", 720, 1280, rotation: -90, frames: 4),
        RealClip("hevc10_editlist.mp4", 1080, 1920, rotation: -90, frames: 77),
        RealClip("iphone4s_rot.mov", 320, 568, rotation: -90, frames: 66, stream: 1),
        RealClip("hevc_8k.mp4", 7680, 4320, frames: 8),
        RealClip("office_hevc_bframes.mp4", 1080, 720, frames: 3),
        RealClip("bear_vp9.webm", 320, 240, frames: 82),
        RealClip("roadtrip_vp9_10bit.webm", 426, 240, frames: 72),
        RealClip("av1_10bit_portrait.mp4", 720, 1280, frames: 127),
        RealClip("seagull_mpeg4.avi", 960, 400, frames: 96),
        RealClip("night_1080p50.mov", 1920, 1080, frames: 100),
        RealClip("clouds_h264.ts", 640, 360, frames: 58),
        RealClip("gopro_max.mp4", 848, 480, frames: 315),
        RealClip("traffic_cam.mp4", 768, 432, frames: 377),
        RealClip("room_cam_10fps.mp4", 768, 432, frames: 1394),
        RealClip("asl_book.mkv", 640, 480, frames: 109),
        RealClip("rooftop_pan_60fps.mp4", 320, 240, frames: 932),
        RealClip("slowmo_720p.mp4", 1280, 720, frames: 7),
    ]

    /// The clip's path; records an issue when the folder is missing.
    func path() throws -> String {
        guard let folder = MediaFixtures.realMediaDirectory else {
            throw FixtureError(
                "real-world clips not found at <repo>/../shared/media/real; set \(MediaFixtures.realMediaVariable)")
        }
        return folder.appendingPathComponent(file).path
    }
}

@Suite(.holdingSerialLock) struct RealMediaTests {}

extension RealMediaTests {
    @Test(arguments: RealClip.all)
    func probesWithTheManifestsDisplayedSize(clip: RealClip) throws {
        let result = try probe(try clip.path())
        #expect(result.width == clip.width && result.height == clip.height)
        #expect(result.rotation == clip.rotation)
        #expect(result.videoStream == clip.stream)
        if clip.file == "office_fmp4_nodur.mp4" { #expect(result.duration == nil) }
        if clip.file == "clouds_h264.ts" { #expect(result.fps == 24) }
    }

    @Test(arguments: RealClip.all)
    func samplesWithStrictlyIncreasingTimes(clip: RealClip) async throws {
        let options = IngestOptions(fps: 4, size: .fitLongEdge(256))
        let (frames, _, counters) = try await readAll(try clip.path(), options: options)
        #expect(!frames.isEmpty)
        #expect(frames.first?.time == .zero)
        #expect(zip(frames, frames.dropFirst()).allSatisfy { $0.time < $1.time })
        #expect(counters.decoded == clip.frames)
        let longEdge = frames.map { max($0.image.width, $0.image.height) }
        #expect(longEdge.allSatisfy { $0 == 256 })
        let portrait = clip.height > clip.width
        #expect(frames.allSatisfy { ($0.image.height > $0.image.width) == portrait })
    }

    @Test(arguments: RealClip.all.filter { $0.frames <= 400 && $0.width * $0.height < 9_000_000 })
    func decodedFrameCountMatchesTheManifest(clip: RealClip) throws {
        #expect(try VideoClip.frameCountAndRate(try clip.path()).count == clip.frames)
    }

    @Test(arguments: RealClip.all.filter { $0.rotation != 0 && $0.width * $0.height < 3_000_000 })
    func rotatedClipsMatchTheFFmpegCLIsUprightPicture(clip: RealClip) throws {
        let folder = try MediaFixtures.scratchDirectory("upright")
        let reference = folder.appendingPathComponent("reference.png").path
        try MediaFixtures.ffmpeg([
            "-i", try clip.path(), "-map", "0:\(clip.stream)", "-frames:v", "1", "-pix_fmt", "rgb24", reference,
        ])
        let expected = try ImageFile.load(reference)
        let actual = try VideoClip.frames(try clip.path(), atIndices: [0])[0].image
        #expect(actual.width == expected.width && actual.height == expected.height)
        guard actual.width == expected.width && actual.height == expected.height else { return }
        var total = 0
        for i in 0..<actual.pixels.count { total += abs(Int(actual.pixels[i]) - Int(expected.pixels[i])) }
        let meanDifference = Double(total) / Double(actual.pixels.count)
        #expect(meanDifference < 4, "mean difference \(meanDifference)")
    }
}
