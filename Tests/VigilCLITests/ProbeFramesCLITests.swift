// End-to-end tests of `vigil probe` and `vigil frames`: they run the built `vigil` executable (next to the test
// bundle in .build/<config>/) on generated clips and check stdout, stderr and exit status.

import Foundation
import MediaIngest
import TestSupport
import Testing
import VigilCore

/// Runs the built `vigil` binary.
enum VigilBinary {
    /// `.build/<triple>/<config>/vigil`, next to the running test bundle.
    static var path: String {
        let bundle = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return bundle.deletingLastPathComponent().appendingPathComponent("vigil").path
    }

    /// Runs `vigil arguments`, feeding `stdin` if given.
    static func run(_ arguments: [String], stdin: Data? = nil) throws -> (
        status: Int32, stdout: [String], stderr: [String]
    ) {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw FixtureError("\(path) is missing: build it first (swift build)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let result = try MediaFixtures.run(process, stdin: stdin)
        let out = String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        let err = result.stderr.split(separator: "\n").map(String.init)
        return (result.status, out, err)
    }

    /// Parses one JSON line into a dictionary.
    static func object(_ line: String) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(value as? [String: Any], "not a JSON object: \(line)")
    }
}

@Suite(.serialized) struct ProbeFramesCLITests {}

extension ProbeFramesCLITests {
    @Test func tenSecondsAtThirtyFPSPrintExactlyTenLines() throws {
        let clip = try MediaFixtures.path(.h264At30)
        let result = try VigilBinary.run(["frames", clip, "--fps", "1", "--json"])
        #expect(result.status == 0)
        #expect(result.stdout.count == 10)
        for (k, line) in result.stdout.enumerated() {
            let object = try VigilBinary.object(line)
            #expect(object["index"] as? Int == k)
            let pts = try #require(object["pts"] as? Double)
            #expect(pts >= Double(k) && pts - Double(k) < 1.0 / 30)
            #expect(object["width"] as? Int == 320 && object["height"] as? Int == 240)
        }
        let states = try result.stderr.map { try VigilBinary.object($0)["state"] as? String }
        #expect(states == ["live", "ended"])
    }

    @Test(arguments: [MediaClip.h264At2997, .variableRate])
    func everyPTSIsWithinOneFrameOfItsSecond(clip: MediaClip) throws {
        let times = try #require(clip.frameTimes)
        let result = try VigilBinary.run(["frames", try MediaFixtures.path(clip), "--json"])
        #expect(result.status == 0 && result.stdout.count == 10)
        for line in result.stdout {
            let object = try VigilBinary.object(line)
            let k = Double(try #require(object["index"] as? Int))
            let pts = try #require(object["pts"] as? Double)
            let at = try #require(times.firstIndex { abs($0 - pts) < 1e-5 }, "pts \(pts) is no frame's time")
            #expect(pts >= k && (at == 0 || times[at - 1] < k), "sample \(k): pts \(pts)")
        }
    }

    @Test func rotatedFileProbesDisplayedSizeAndWritesUprightPNGs() throws {
        let clip = try MediaFixtures.path(.quadrantsRotatedMinus90)
        let probed = try VigilBinary.run(["probe", clip, "--json"])
        #expect(probed.status == 0 && probed.stdout.count == 1)
        let object = try VigilBinary.object(probed.stdout[0])
        #expect(object["width"] as? Int == 320 && object["height"] as? Int == 240)
        #expect(object["coded_width"] as? Int == 240 && object["coded_height"] as? Int == 320)
        #expect(object["rotation"] as? Int == -90)
        #expect(object["frame_count"] as? Int == 90)

        let folder = try MediaFixtures.scratchDirectory("cli-out").appendingPathComponent("frames").path
        let sampled = try VigilBinary.run(["frames", clip, "--out", folder, "--json"])
        #expect(sampled.status == 0 && sampled.stdout.count == 3)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(files == ["frame_000000.png", "frame_000001.png", "frame_000002.png"])
        let image = try ImageFile.load(folder + "/frame_000001.png")
        #expect(image.width == 320 && image.height == 240)
        let topLeft = image[80, 60]
        let bottomRight = image[240, 180]
        #expect(topLeft.r > 230 && topLeft.g < 30 && topLeft.b < 30, "top-left \(topLeft)")
        #expect(bottomRight.r > 230 && bottomRight.g > 230 && bottomRight.b > 230, "bottom-right \(bottomRight)")
    }

    @Test func sizeOptions() throws {
        let clip = try MediaFixtures.path(.quadrantsRotatedPlus90)
        let square = try VigilBinary.run(["frames", clip, "--size", "64", "--json"])
        #expect(try square.stdout.map { try VigilBinary.object($0)["width"] as? Int } == [64, 64, 64])
        let fitted = try VigilBinary.run(["frames", clip, "--size", "100", "--keep-aspect", "--json"])
        let first = try VigilBinary.object(try #require(fitted.stdout.first))
        #expect(first["width"] as? Int == 100 && first["height"] as? Int == 75)
    }

    @Test func probeSummaryIsReadable() throws {
        let result = try VigilBinary.run(["probe", try MediaFixtures.path(.h264At25Matroska)])
        #expect(result.status == 0)
        let text = result.stdout.joined(separator: "\n")
        #expect(text.contains("320x240") && text.contains("25.0 fps") && text.contains("matroska"))
    }

    @Test func standardInputIsASource() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: try MediaFixtures.path(.h264At25Matroska)))
        let result = try VigilBinary.run(["frames", "-", "--json"], stdin: data)
        #expect(result.status == 0)
        #expect(result.stdout.count == 8)
        // An MP4 with its index at the end cannot be read from a pipe: the error says what to do.
        let mp4 = try Data(contentsOf: URL(fileURLWithPath: try MediaFixtures.path(.h264At30)))
        let piped = try VigilBinary.run(["frames", "-"], stdin: mp4)
        #expect(piped.status == 1 && piped.stderr.count == 1)
        #expect(piped.stderr.first?.contains("standard input") == true && piped.stderr.first?.contains("faststart") == true)
    }

    @Test(arguments: [
        MediaClip.textFile, .truncatedMP4, .truncatedFaststartMP4, .audioOnly, .unknownCodec,
    ])
    func badInputsFailWithAShortErrorNamingTheSource(clip: MediaClip) throws {
        let path = try MediaFixtures.path(clip)
        for json in [false, true] {
            let result = try VigilBinary.run(["frames", path] + (json ? ["--json"] : []))
            #expect(result.status == 1, "\(clip.rawValue)")
            #expect(result.stderr.count <= 3, "\(result.stderr)")
            #expect(result.stderr.joined().contains(path), "\(result.stderr)")
        }
        let probed = try VigilBinary.run(["probe", path])
        #expect(probed.status == 1 && probed.stderr.count == 1 && probed.stderr[0].contains(path))
    }

    @Test func missingFileAndRefusedHost() async throws {
        let missing = try VigilBinary.run(["frames", "/no/such/clip.mp4"])
        #expect(
            missing.status == 1
                && missing.stderr == [
                    "vigil: error: '/no/such/clip.mp4': no such file. Check the path (use '-' to read standard input)."
                ])
        try await TestSerialLock.run {
            let url = "rtsp://127.0.0.1:\(try freeTCPPort())/stream"
            let refused = try VigilBinary.run(["frames", url, "--json"])
            #expect(refused.status == 1 && refused.stderr.count == 3)
            let codes = try refused.stderr.map { try VigilBinary.object($0) }
            #expect(codes[1]["code"] as? String == "unreachable")
            #expect(codes[2]["state"] as? String == "failed")
        }
    }

    @Test(arguments: [
        ["frames", "x.mp4", "--keep-aspect"], ["frames", "x.mp4", "--fps", "0"],
        ["frames", "x.mp4", "--rtsp-transport", "sctp"], ["probe"], ["frames", "x.mp4", "--log-level", "loud"],
    ])
    func badUsageExits64(arguments: [String]) throws {
        #expect(try VigilBinary.run(arguments).status == 64)
    }

    @Test func interruptStopsWithStatus130() async throws {
        try await TestSerialLock.run {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: VigilBinary.path)
            process.arguments = ["frames", try MediaFixtures.path(.h264At30), "--realtime", "--json"]
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Wait for the first frame line, then interrupt.
            _ = out.fileHandleForReading.availableData
            process.interrupt()
            process.waitUntilExit()
            #expect(process.terminationStatus == 130)
        }
    }
}
