// Source strings: kinds, liveness, the FFmpeg URL and password masking.

import Testing

@testable import MediaIngest

@Suite struct MediaSourceTests {}

extension MediaSourceTests {
    @Test(arguments: [
        ("clip.mp4", MediaSource.Kind.file, false),
        ("/a/b:c.mkv", .file, false),
        ("-", .standardInput, false),
        ("rtsp://cam/stream", .rtsp, true),
        ("RTSP://cam/stream", .rtsp, true),
        ("http://host/video.mp4", .http, false),
        ("https://host/live/index.m3u8?token=1", .http, true),
        ("srt://host:9000", .otherURL, true),
    ])
    func kinds(source: String, kind: MediaSource.Kind, live: Bool) {
        let parsed = MediaSource(source)
        #expect(parsed.kind == kind)
        #expect(parsed.isLiveByDefault == live)
    }

    @Test func localPathsAreNeverReadAsProtocols() {
        #expect(MediaSource("/a/b:c.mkv").ffmpegURL == "file:/a/b:c.mkv")
        #expect(MediaSource("-").ffmpegURL == "pipe:0")
        #expect(MediaSource("-").displayName == "standard input")
    }

    @Test func passwordsAreMaskedInMessages() {
        #expect(
            MediaSource("rtsp://admin:secret@10.0.0.5:554/h264?x=1").displayName
                == "rtsp://admin:***@10.0.0.5:554/h264?x=1")
        #expect(MediaSource("rtsp://10.0.0.5/h264").displayName == "rtsp://10.0.0.5/h264")
        #expect(MediaSource("rtsp://user@10.0.0.5/a").displayName == "rtsp://user@10.0.0.5/a")
    }

    @Test func outputSizes() {
        #expect(OutputSize.displayed.resolve(width: 720, height: 1280) == (720, 1280))
        #expect(OutputSize.square(512).resolve(width: 720, height: 1280) == (512, 512))
        #expect(OutputSize.fitLongEdge(512).resolve(width: 720, height: 1280) == (288, 512))
        #expect(OutputSize.fitLongEdge(100).resolve(width: 321, height: 241) == (100, 75))
    }
}
