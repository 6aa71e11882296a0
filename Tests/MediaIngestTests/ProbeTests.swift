// `probe` on generated clips: container, codec, rate, duration, frame count, stream choice.

import MediaIngest
import TestSupport
import Testing

@Suite struct ProbeTests {}

extension ProbeTests {
    @Test func mp4ReportsEverything() throws {
        let result = try probe(try MediaFixtures.path(.h264At30))
        #expect(result.container.contains("mp4"))
        #expect(result.codec == "h264")
        #expect(result.width == 320 && result.height == 240)
        #expect(result.fps == 30)
        #expect(result.duration.map { abs($0 - 10) < 0.01 } == true)
        #expect(result.frameCount == 300)
        #expect(result.videoStream == 0)
    }

    @Test func ntscRateIsExact() throws {
        let result = try probe(try MediaFixtures.path(.h264At2997))
        #expect(result.fps.map { abs($0 - 30000.0 / 1001) < 1e-9 } == true)
    }

    @Test(arguments: [
        (MediaClip.h264At25Matroska, "matroska,webm", 25.0), (.vp9WebM, "matroska,webm", 30), (.mpeg4AVI, "avi", 30),
        (.transportStream, "mpegts", 30), (.quickTime, "mov,mp4,m4a,3gp,3g2,mj2", 30),
    ])
    func everyContainerProbes(clip: MediaClip, container: String, fps: Double) throws {
        let result = try probe(try MediaFixtures.path(clip))
        #expect(result.container == container)
        #expect(result.fps.map { abs($0 - fps) < 1e-6 } == true, "\(clip.rawValue): \(String(describing: result.fps))")
        #expect(result.width == 320 && result.height == 240)
    }

    @Test func matroskaHasNoFrameCountWithoutDecoding() throws {
        #expect(try probe(try MediaFixtures.path(.h264At25Matroska)).frameCount == nil)
    }

    @Test func jsonHasTheDocumentedKeysInOrder() throws {
        let json = try probe(try MediaFixtures.path(.h264At30)).json.serialized()
        let keys = [
            "container", "codec", "width", "height", "coded_width", "coded_height", "rotation", "fps", "duration",
            "video_stream", "frame_count",
        ]
        var last = json.startIndex
        for key in keys {
            let range = try #require(json.range(of: "\"\(key)\":"), "missing \(key)")
            #expect(range.lowerBound >= last, "\(key) out of order")
            last = range.lowerBound
        }
    }
}
