// An http:// source end to end: the loopback HTTP server serves a generated 10 s, 30 fps clip (answering Range
// requests, as a web server does), and `vigil probe` / `vigil frames` read it like a file.

import Foundation
import TestSupport
import Testing

@Suite(.serialized, .holdingSerialLock) struct HTTPSourceCLITests {
    /// Serves `data` at /clip.mp4 with byte ranges.
    static func server(for data: Data) throws -> LoopbackHTTPServer {
        try LoopbackHTTPServer { request in
            guard request.path == "/clip.mp4" else { return .text("not found", status: 404) }
            let headers: [(String, String)] = [("Content-Type", "video/mp4"), ("Accept-Ranges", "bytes")]
            if let range = request.header("Range"), range.hasPrefix("bytes="),
                let start = Int(range.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)[0]),
                start < data.count
            {
                return LoopbackHTTPServer.Response(
                    status: 206, headers: headers + [("Content-Range", "bytes \(start)-\(data.count - 1)/\(data.count)")],
                    body: data.subdata(in: start..<data.count))
            }
            return LoopbackHTTPServer.Response(status: 200, headers: headers, body: data)
        }
    }

    @Test func httpClipSamplesLikeAFile() throws {
        let clip = try MediaFixtures.path(.h264At30)
        let server = try Self.server(for: try Data(contentsOf: URL(fileURLWithPath: clip)))
        defer { server.stop() }
        let url = server.baseURL.appendingPathComponent("clip.mp4").absoluteString

        let probe = try VigilBinary.run(["probe", url, "--json"])
        #expect(probe.status == 0, "\(probe.stderr)")
        let info = try VigilBinary.object(try #require(probe.stdout.last))
        #expect(info["codec"] as? String == "h264")

        let frames = try VigilBinary.run(["frames", url, "--fps", "1", "--json"])
        #expect(frames.status == 0, "\(frames.stderr)")
        let pts = try frames.stdout.map { try VigilBinary.object($0)["pts"] as? Double ?? -1 }
        #expect(pts.count == 10)
        for (k, t) in pts.enumerated() { #expect(abs(t - Double(k)) < 1.0 / 30 + 1e-6, "sample \(k): \(t)") }

        let missing = try VigilBinary.run(["probe", server.baseURL.appendingPathComponent("nope.mp4").absoluteString])
        #expect(missing.status == 1)
        #expect(missing.stderr.count <= 3 && missing.stderr.joined().contains("nope.mp4"))
    }
}
