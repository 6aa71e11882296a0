// Test media for the ingest tests: small clips of known timing made with the ffmpeg CLI (lavfi sources) into a
// temporary folder once per test run, the bad inputs (truncated MP4s, a text file, audio only, an unknown codec),
// and the location of the real-world clips (`<repo>/../shared/media/real`, or $VIGIL_SHARED_MEDIA).
//
// Exact commands: see `MediaClip.make(at:)`; docs/ingest.md lists them too.

import Foundation
import Glibc
import Synchronization

/// A generated test clip. Raw values are file names.
public enum MediaClip: String, CaseIterable, Sendable {
    /// 10.0 s, 30 fps, 320×240 H.264 in MP4 (testsrc2).
    case h264At30 = "cfr30.mp4"
    /// 10.0 s at 30000/1001 fps (29.97), H.264 in MP4.
    case h264At2997 = "ntsc2997.mp4"
    /// 8.0 s, 25 fps, H.264 in Matroska.
    case h264At25Matroska = "cfr25.mkv"
    /// Variable rate: a 60 fps source with frames n where n mod 7 < 3 or 200 ≤ n ≤ 330 kept, in MP4.
    case variableRate = "vfr.mp4"
    /// 10.0 s, 30 fps, VP9 in WebM.
    case vp9WebM = "vp9.webm"
    /// 10.0 s, 30 fps, H.264 in QuickTime.
    case quickTime = "h264.mov"
    /// 10.0 s, 30 fps, MPEG-4 Part 2 in AVI.
    case mpeg4AVI = "mpeg4.avi"
    /// 10.0 s, 30 fps, H.264 in MPEG-TS (the container's start time is 1.4 s, not 0).
    case transportStream = "h264.ts"
    /// 3 s, 30 fps, 320×240 in four quadrants: red, green (top), blue, white (bottom).
    case quadrants = "quad.mp4"
    /// The quadrants stored turned clockwise with a +90 display matrix: shows upright at 320×240.
    case quadrantsRotatedPlus90 = "quad_rot_plus90.mp4"
    /// The quadrants stored turned counter-clockwise with a -90 display matrix: shows upright at 320×240.
    case quadrantsRotatedMinus90 = "quad_rot_minus90.mp4"
    /// The quadrants stored upside down with a 180 display matrix.
    case quadrantsRotated180 = "quad_rot180.mp4"
    /// The quadrants in full range (yuvj420p).
    case quadrantsFullRange = "quad_yuvj420p.mp4"
    /// The quadrants in 10-bit 4:2:0 (yuv420p10le) in Matroska.
    case quadrants10Bit = "quad_10bit.mkv"
    /// The quadrants at an odd size, 321×241 (4:4:4).
    case quadrantsOddSize = "quad_321x241.mp4"
    /// 2 s of a sine tone in AAC; no video.
    case audioOnly = "audio_only.m4a"
    /// `h264At30` cut to its first 200000 bytes: the index (`moov`, at the end) is missing.
    case truncatedMP4 = "truncated.mp4"
    /// `h264At30` with the index first (faststart) cut to 200000 bytes: opens, but ends early.
    case truncatedFaststartMP4 = "truncated_faststart.mp4"
    /// A text file named like a video.
    case textFile = "notes.mp4"
    /// An AVI whose video FourCC was changed to 'ZZZZ', which no decoder knows.
    case unknownCodec = "unknown_codec.avi"

    /// The media time of every frame, for clips of exactly known timing; nil otherwise.
    public var frameTimes: [Double]? {
        switch self {
        case .h264At30, .quickTime, .mpeg4AVI, .transportStream: return (0..<300).map { Double($0) / 30 }
        case .vp9WebM: return (0..<300).map { (Double($0) * 1000 / 30).rounded() / 1000 }  // WebM counts in ms
        case .h264At2997: return (0..<300).map { Double($0) * 1001 / 30000 }
        case .h264At25Matroska: return (0..<200).map { Double($0) / 25 }
        case .variableRate:
            return (0..<600).filter { $0 % 7 < 3 || (200...330).contains($0) }.map { Double($0) / 60 }
        default: return nil
        }
    }

    private static let x264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    private static let testsrc30 = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=10"]
    private static let quadrantGraph =
        "color=c=red:s=160x120:r=30:d=3[a];color=c=0x00FF00:s=160x120:r=30:d=3[b];"
        + "color=c=blue:s=160x120:r=30:d=3[c];color=c=white:s=160x120:r=30:d=3[d];"
        + "[a][b]hstack[top];[c][d]hstack[bottom];[top][bottom]vstack"

    /// Makes the clip at `path` (other clips it derives from are made through `MediaFixtures`).
    func make(at path: String) throws {
        let ff = MediaFixtures.ffmpeg
        switch self {
        case .h264At30:
            try ff(Self.testsrc30 + Self.x264 + ["-g", "30", path])
        case .h264At2997:
            try ff(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30000/1001:duration=10"] + Self.x264 + [path])
        case .h264At25Matroska:
            try ff(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=8"] + Self.x264 + [path])
        case .variableRate:
            try ff(
                [
                    "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=60:duration=10",
                    "-vf", "select='lt(mod(n\\,7)\\,3)+between(n\\,200\\,330)'", "-fps_mode", "vfr",
                ] + Self.x264 + [path])
        case .vp9WebM:
            try ff(
                Self.testsrc30 + [
                    "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", path,
                ])
        case .quickTime:
            try ff(Self.testsrc30 + Self.x264 + [path])
        case .mpeg4AVI:
            try ff(Self.testsrc30 + ["-c:v", "mpeg4", "-q:v", "8", path])
        case .transportStream:
            try ff(Self.testsrc30 + Self.x264 + ["-f", "mpegts", path])
        case .quadrants:
            try ff(["-f", "lavfi", "-i", Self.quadrantGraph] + Self.x264 + [path])
        case .quadrantsRotatedPlus90:
            try rotated(path, filter: "transpose=clock", rotateTag: "90")
        case .quadrantsRotatedMinus90:
            try rotated(path, filter: "transpose=cclock", rotateTag: "270")
        case .quadrantsRotated180:
            try rotated(path, filter: "hflip,vflip", rotateTag: "180")
        case .quadrantsFullRange:
            try ff([
                "-f", "lavfi", "-i", Self.quadrantGraph, "-c:v", "libx264", "-preset", "veryfast",
                "-pix_fmt", "yuvj420p", path,
            ])
        case .quadrants10Bit:
            try ff([
                "-f", "lavfi", "-i", Self.quadrantGraph, "-c:v", "libx264", "-preset", "veryfast",
                "-pix_fmt", "yuv420p10le", path,
            ])
        case .quadrantsOddSize:
            try ff([
                "-f", "lavfi", "-i", Self.quadrantGraph + ",scale=321:241", "-c:v", "libx264", "-preset",
                "veryfast", "-pix_fmt", "yuv444p", path,
            ])
        case .audioOnly:
            try ff(["-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", path])
        case .truncatedMP4:
            let whole = try Data(contentsOf: URL(fileURLWithPath: MediaFixtures.path(.h264At30)))
            try whole.prefix(200_000).write(to: URL(fileURLWithPath: path))
        case .truncatedFaststartMP4:
            let faststart = path + ".whole.mp4"
            try ff(["-i", MediaFixtures.path(.h264At30), "-c", "copy", "-movflags", "+faststart", faststart])
            let whole = try Data(contentsOf: URL(fileURLWithPath: faststart))
            try whole.prefix(200_000).write(to: URL(fileURLWithPath: path))
        case .textFile:
            try Data("These are notes, not a video.\n".utf8).write(to: URL(fileURLWithPath: path))
        case .unknownCodec:
            let plain = path + ".fmp4.avi"
            try ff(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=1", "-c:v", "mpeg4", plain])
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: plain)))
            let from = Array("FMP4".utf8)
            let to = Array("ZZZZ".utf8)
            var i = 0
            while i + 4 <= bytes.count {
                if Array(bytes[i..<i + 4]) == from { bytes.replaceSubrange(i..<i + 4, with: to) }
                i += 1
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
    }

    /// The quadrants turned by `filter`, then remuxed with a `rotate` tag (FFmpeg 5.1 writes the display matrix
    /// only when stream-copying).
    private func rotated(_ path: String, filter: String, rotateTag: String) throws {
        let turned = path + ".turned.mp4"
        try MediaFixtures.ffmpeg(["-f", "lavfi", "-i", Self.quadrantGraph + "," + filter] + Self.x264 + [turned])
        try MediaFixtures.ffmpeg(["-i", turned, "-c", "copy", "-metadata:s:v:0", "rotate=" + rotateTag, path])
    }
}

/// Where test media lives, and the ffmpeg CLI runner.
public enum MediaFixtures {
    /// The repository root (found from this file's path).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The environment variable that points at the real-world clips folder instead of `<repo>/../shared/media/real`.
    public static let realMediaVariable = "VIGIL_SHARED_MEDIA"

    /// The folder of real-world clips (with MANIFEST.md): $VIGIL_SHARED_MEDIA, else `<repo>/../shared/media/real`
    /// (also tried one level higher, for git worktrees under `<workspace>/wt/<name>`); nil when absent.
    public static var realMediaDirectory: URL? {
        var candidates: [URL] = []
        if let override = ProcessInfo.processInfo.environment[realMediaVariable], !override.isEmpty {
            candidates.append(URL(fileURLWithPath: override))
        }
        let parent = repositoryRoot.deletingLastPathComponent()
        candidates.append(parent.appendingPathComponent("shared/media/real"))
        candidates.append(parent.deletingLastPathComponent().appendingPathComponent("shared/media/real"))
        return candidates.first {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("MANIFEST.md").path)
        }
    }

    /// A folder for this test run's generated media, made on first use. Folders of earlier runs whose process is
    /// gone are removed then.
    public static let directory: URL = {
        let temporary = FileManager.default.temporaryDirectory
        let prefix = "vigil-media-tests-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
        where name.hasPrefix(prefix) {
            if let pid = Int32(name.dropFirst(prefix.count)), kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(at: temporary.appendingPathComponent(name))
            }
        }
        let url = temporary.appendingPathComponent(prefix + "\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    private static let made = Mutex<Set<MediaClip>>([])
    private static let making = NSRecursiveLock()

    /// The path of `clip`, generated on first use in this run.
    public static func path(_ clip: MediaClip) throws -> String {
        let path = directory.appendingPathComponent(clip.rawValue).path
        if made.withLock({ $0.contains(clip) }) { return path }
        making.lock()
        defer { making.unlock() }
        if made.withLock({ $0.contains(clip) }) { return path }
        try? FileManager.default.removeItem(atPath: path)
        try clip.make(at: path)
        made.withLock { _ = $0.insert(clip) }
        return path
    }

    /// A fresh empty folder under this run's folder.
    public static func scratchDirectory(_ name: String) throws -> URL {
        let url = directory.appendingPathComponent("scratch-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs the ffmpeg CLI quietly with `arguments` (overwriting outputs); throws with its error output on failure.
    public static func ffmpeg(_ arguments: [String]) throws {
        let result = try runTool("ffmpeg", ["-hide_banner", "-loglevel", "error", "-nostdin", "-y"] + arguments)
        guard result.status == 0 else {
            throw FixtureError("ffmpeg \(arguments.joined(separator: " ")) failed: \(result.stderr)")
        }
    }

    /// Runs `tool` (found on PATH) and returns its exit status and outputs.
    public static func runTool(_ tool: String, _ arguments: [String], stdin: Data? = nil) throws
        -> (status: Int32, stdout: Data, stderr: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        return try run(process, stdin: stdin)
    }

    /// Runs `process` to completion, collecting its outputs (read concurrently so neither pipe fills).
    public static func run(_ process: Process, stdin: Data? = nil) throws -> (
        status: Int32, stdout: Data, stderr: String
    ) {
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try process.run()
        let collected = Mutex<(Data, Data)>((Data(), Data()))
        let group = DispatchGroup()
        for (index, pipe) in [out, err].enumerated() {
            group.enter()
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                collected.withLock { if index == 0 { $0.0 = data } else { $0.1 = data } }
                group.leave()
            }
        }
        if let stdin {
            // The child may exit before reading everything: a broken pipe is an error here, not a signal.
            signal(SIGPIPE, SIG_IGN)
            try? input.fileHandleForWriting.write(contentsOf: stdin)
            try? input.fileHandleForWriting.close()
        }
        group.wait()
        process.waitUntilExit()
        let (stdout, stderr) = collected.withLock { $0 }
        return (process.terminationStatus, stdout, String(decoding: stderr, as: UTF8.self))
    }
}

/// A test fixture could not be prepared.
public struct FixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
