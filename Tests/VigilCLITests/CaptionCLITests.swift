// `vigil caption` and `vigil ask` end to end, on the tiny fixture model and generated clips:
//   - a folder with one broken file: the others are captioned into WebVTT and SRT that strict parsers accept and
//     JSONL with every level; the broken one is one clear line, and the exit status and summary say it failed;
//   - a rerun over finished outputs does no model work (it succeeds with the model's weights gone);
//   - `kill -9` in the middle, then the same command again: outputs byte-identical to an uninterrupted run;
//   - `vigil ask --at`: an answer whose evidence lies before the time asked at; bad times are usage errors.

import Foundation
import Testing
import TestSupport
import VigilCore

@Suite(.serialized, .holdingSerialLock) struct CaptionCLITests {
    static var tinyModel: String { Fixtures.url("smolvlm/tiny-realtok").path }

    /// A fresh folder under the temporary directory.
    static func folder(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-caption-tests/\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A `seconds`-long 64×64 clip at 2 fps: a moving square on blue, a cut to orange half way.
    static func clip(seconds: Int, at path: String) throws {
        let half = seconds / 2
        let filter =
            "color=c=0x406080:s=64x64:r=2:d=\(half)[a];color=c=0xe08020:s=64x64:r=2:d=\(seconds - half)[b];"
            + "[a][b]concat=n=2:v=1,drawbox=x='mod(t*6,56)':y=28:w=8:h=8:color=yellow:t=fill"
        try MediaFixtures.ffmpeg(["-f", "lavfi", "-i", filter, "-c:v", "ffv1", path])
    }

    static let fastSettings = [
        "--clip-seconds", "10", "--segment-seconds", "20", "--fps", "0.5", "--keep-tokens", "3", "--progress", "none",
    ]

    static func outputs(in folder: URL) throws -> [String: Data] {
        var result: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() {
            result[name] = try Data(contentsOf: folder.appendingPathComponent(name))
        }
        return result
    }

    @Test func aFolderWithOneBrokenFileCaptionsTheRestIntoValidFiles() throws {
        let inputs = try Self.folder("inputs")
        let out = try Self.folder("out")
        try Self.clip(seconds: 40, at: inputs.appendingPathComponent("first.mkv").path)
        try Self.clip(seconds: 25, at: inputs.appendingPathComponent("second.mkv").path)
        try Data("this is not a video\n".utf8).write(to: inputs.appendingPathComponent("broken.mp4"))

        let run = try VigilBinary.run(
            ["caption", inputs.path, "-f", "all", "-o", out.path, "--model", Self.tinyModel] + Self.fastSettings)
        #expect(run.status == 1)
        let errors = run.stderr.joined(separator: "\n")
        #expect(errors.contains("broken.mp4"))
        #expect(errors.contains("1 of 3 inputs failed"))
        #expect(!errors.contains("Fatal error"))

        for (name, duration) in [("first", 40.0), ("second", 25.0)] {
            let vtt = try String(contentsOf: out.appendingPathComponent("\(name).vtt"), encoding: .utf8)
            let srt = try String(contentsOf: out.appendingPathComponent("\(name).srt"), encoding: .utf8)
            let cues = try SubtitleParsers.webVTT(vtt).cues
            let srtCues = try SubtitleParsers.srt(srt)
            #expect(!cues.isEmpty)
            #expect(cues.map(\.start) == srtCues.map(\.start) && cues.map(\.end) == srtCues.map(\.end))
            #expect(Double(cues.last!.end) / 1000 <= duration + 1e-3)
            let lines = try String(contentsOf: out.appendingPathComponent("\(name).jsonl"), encoding: .utf8)
                .split(separator: "\n").map { try VigilBinary.object(String($0)) }
            let levels = Set(lines.compactMap { $0["level"] as? String })
            #expect(levels == ["clip", "segment", "summary"], "\(name): \(levels)")
            let txt = try String(contentsOf: out.appendingPathComponent("\(name).txt"), encoding: .utf8)
            #expect(txt.contains("[00:00:00]"))
            #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("\(name).vigil-journal").path))
        }
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("broken.vtt").path))
    }

    @Test func recursiveFoldersMirrorTheirSubfoldersUnderTheOutputFolder() throws {
        let inputs = try Self.folder("recursive-inputs")
        let out = try Self.folder("recursive-out")
        try FileManager.default.createDirectory(
            at: inputs.appendingPathComponent("day1/.hidden"), withIntermediateDirectories: true)
        try Self.clip(seconds: 12, at: inputs.appendingPathComponent("top.mkv").path)
        try Self.clip(seconds: 12, at: inputs.appendingPathComponent("day1/cam.mkv").path)
        try Self.clip(seconds: 12, at: inputs.appendingPathComponent("day1/.hidden/skip.mkv").path)
        let arguments = ["caption", inputs.path, "-f", "srt", "-o", out.path, "--model", Self.tinyModel] + Self.fastSettings
        let flat = try VigilBinary.run(arguments)
        #expect(flat.status == 0, "\(flat.stderr)")
        #expect(try Self.outputs(in: out).keys.filter { $0.hasSuffix(".srt") } == ["top.srt"], "no subfolders without -r")
        let deep = try VigilBinary.run(arguments + ["-r"])
        #expect(deep.status == 0, "\(deep.stderr)")
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("day1/cam.srt").path))
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("day1/.hidden/skip.srt").path))
    }

    @Test func aRerunOverFinishedOutputsDoesNoModelWork() throws {
        let inputs = try Self.folder("rerun-inputs")
        let out = try Self.folder("rerun-out")
        let model = try Self.folder("rerun-model")
        // A copy of the fixture's files (symbolic links resolved).
        let fixture = URL(fileURLWithPath: Self.tinyModel)
        for file in try FileManager.default.contentsOfDirectory(atPath: fixture.path) where file != "golden" {
            try Data(contentsOf: fixture.appendingPathComponent(file).resolvingSymlinksInPath())
                .write(to: model.appendingPathComponent(file))
        }
        try Self.clip(seconds: 20, at: inputs.appendingPathComponent("clip.mkv").path)
        let arguments = ["caption", inputs.path, "-o", out.path, "--model", model.path] + Self.fastSettings
        #expect(try VigilBinary.run(arguments).status == 0)
        let before = try Self.outputs(in: out)

        // Without its weights the model cannot load: only a run that never touches it succeeds.
        for file in try FileManager.default.contentsOfDirectory(atPath: model.path) where file.hasSuffix(".safetensors") {
            try FileManager.default.removeItem(at: model.appendingPathComponent(file))
        }
        let rerun = try VigilBinary.run(arguments + ["--skip-existing"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(try Self.outputs(in: out) == before)
        // With --force it must load the model, and says why it cannot.
        let forced = try VigilBinary.run(arguments + ["--force"])
        #expect(forced.status == 1)
    }

    @Test func killedMidRunThenRerunWritesWhatAnUninterruptedRunWrites() throws {
        let inputs = try Self.folder("kill-inputs")
        let whole = try Self.folder("kill-whole")
        let killed = try Self.folder("kill-killed")
        let input = inputs.appendingPathComponent("long.mkv").path
        try Self.clip(seconds: 160, at: input)
        let settings = [
            "--clip-seconds", "4", "--segment-seconds", "16", "--fps", "1", "--keep-tokens", "3", "--progress", "none",
        ]
        #expect(try VigilBinary.run(["caption", input, "-o", whole.path, "--model", Self.tinyModel] + settings).status == 0)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: VigilBinary.path)
        process.arguments = ["caption", input, "-o", killed.path, "--model", Self.tinyModel] + settings
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Kill it once the journal holds a few finished entries.
        let journal = killed.appendingPathComponent("long.vigil-journal").path
        let deadline = Date().addingTimeInterval(livenessBound)
        var entries = 0
        while Date() < deadline && process.isRunning {
            entries = ((try? String(contentsOfFile: journal, encoding: .utf8)) ?? "").split(separator: "\n").count
            if entries >= 6 { break }
            usleep(5_000)
        }
        let wasRunning = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(wasRunning && entries >= 6, "the run ended before it could be killed (\(entries) journal lines)")
        #expect(FileManager.default.fileExists(atPath: journal))

        let rerun = try VigilBinary.run(["caption", input, "-o", killed.path, "--model", Self.tinyModel] + settings)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let a = try Self.outputs(in: whole), b = try Self.outputs(in: killed)
        #expect(a.keys.sorted() == b.keys.sorted())
        for (name, data) in a { #expect(b[name] == data, "\(name) differs after the resumed run") }
    }

    @Test func askAnswersFromWhatWasSeenByThen() throws {
        let inputs = try Self.folder("ask")
        let input = inputs.appendingPathComponent("clip.mkv").path
        try Self.clip(seconds: 60, at: input)
        let run = try VigilBinary.run(
            ["ask", input, "what was on screen earlier?", "--at", "0:45", "--json", "--model", Self.tinyModel,
             "--clip-seconds", "10", "--keep-tokens", "3", "--max-answer-tokens", "6", "--retrieval-mb", "4"])
        #expect(run.status == 0, "\(run.stderr)")
        let answer = try VigilBinary.object(try #require(run.stdout.last))
        #expect(answer["type"] as? String == "answer")
        #expect(answer["asked_at"] as? Double == 45)
        let evidence = try #require(answer["evidence"] as? [[String: Double]])
        #expect(!evidence.isEmpty)
        #expect(evidence.allSatisfy { $0["end"]! <= 45 + 1e-6 && $0["start"]! >= 0 })
        // The window holds the frames from 0:27 on; the last two clip captions (0:20–0:40) reach back past it.
        #expect(evidence.contains { $0["start"]! <= 20 + 1e-6 })

        let text = try VigilBinary.run(
            ["ask", input, "what is on screen?", "--model", Self.tinyModel, "--keep-tokens", "3",
             "--max-answer-tokens", "4", "--retrieval-mb", "4"])
        #expect(text.status == 0)
        #expect(text.stderr.contains { $0.hasPrefix("asked at 01:00") && $0.contains("evidence") })
    }

    @Test func askRejectsBadTimesAndMissingFiles() throws {
        let inputs = try Self.folder("ask-bad")
        let input = inputs.appendingPathComponent("clip.mkv").path
        try Self.clip(seconds: 10, at: input)
        let late = try VigilBinary.run(["ask", input, "q", "--at", "5:00", "--model", Self.tinyModel])
        #expect(late.status == 1)
        #expect(late.stderr.joined().contains("beyond its end"))
        let malformed = try VigilBinary.run(["ask", input, "q", "--at", "1:75", "--model", Self.tinyModel])
        #expect(malformed.status == 64)
        let missing = try VigilBinary.run(["ask", inputs.path + "/nope.mp4", "q", "--model", Self.tinyModel])
        #expect(missing.status == 1)
        #expect(missing.stderr.joined().contains("nope.mp4"))
        let notVideo = inputs.appendingPathComponent("notes.mp4").path
        try Data("hello".utf8).write(to: URL(fileURLWithPath: notVideo))
        let bad = try VigilBinary.run(["ask", notVideo, "q", "--model", Self.tinyModel])
        #expect(bad.status == 1)
        #expect(!bad.stderr.joined().contains("Fatal"))
    }

    @Test func theCaptionBenchmarkReportsSpeedAndSavings() throws {
        let inputs = try Self.folder("bench")
        let input = inputs.appendingPathComponent("clip.mkv").path
        try Self.clip(seconds: 40, at: input)
        let run = try VigilBinary.run(
            ["bench", "--model", Self.tinyModel, "--caption", input, "--baseline", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try VigilBinary.object(try #require(run.stdout.last))
        #expect(report["mode"] as? String == "caption")
        #expect(report["media_s"] as? Double == 40)
        #expect(report["clip_captions"] as? Int == 2)
        for key in ["realtime_x", "s_per_caption", "vision_flops_saved", "visual_tokens_kept", "wall_saved"] {
            #expect(report[key] is Double, "\(key)")
        }
        #expect((report["vision_flops_saved"] as? Double ?? 0) > 0)
        let baseline = try #require(report["baseline"] as? [String: Any])
        #expect(baseline["vision_flops_saved"] as? Double == 0)
    }
}
