// `vigil watch --session NAME` killed with SIGKILL and started again, and `vigil sessions list|show|export|rm`
// (docs/memory.md, "Persistence"), on the tiny fixture model with real tokens and a generated clip:
//   - every caption whose event was printed before the kill is in the session afterwards, word for word;
//   - the second run resumes: two runs recorded, its captions start where the first run's media time ended, the
//     first run's captions are unchanged, and the export is valid SRT / WebVTT with monotonic cues;
//   - a damaged database is one clear line naming the file (exit 1) and is left as it was; a bad name is a usage
//     error (64); rm deletes, and a session that is not there is a clear error.

import Foundation
import Testing
import TestSupport
import VigilCore

@Suite(.serialized, .holdingSerialLock) struct SessionsCLITests {
    static var tinyModel: String { Fixtures.url("smolvlm/tiny-realtok").path }

    static let watchSettings = [
        "--fps", "1", "--clip-seconds", "4", "--segment-seconds", "16", "--captions", "on", "--keep-tokens", "3",
        "--retrieval-mb", "4", "--max-answer-tokens", "8", "--status-interval", "1",
    ]

    /// The `caption` events (start, end, text) among JSON lines.
    static func captions(_ lines: [[String: Any]]) -> [(Double, Double, String)] {
        lines.filter { $0["type"] as? String == "segment" && $0["kind"] as? String == "caption" }.compactMap {
            guard let s = $0["start"] as? Double, let e = $0["end"] as? Double, let t = $0["text"] as? String else {
                return nil
            }
            return (s, e, t)
        }
    }

    static func jsonLines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    static func show(_ name: String, state: String) throws -> [String: Any] {
        let run = try VigilBinary.run(["sessions", "show", name, "--json", "--state-dir", state])
        #expect(run.status == 0, "\(run.stderr)")
        return try VigilBinary.object(run.stdout.joined(separator: "\n"))
    }

    @Test func aKilledSessionResumesWithEverythingItWroteAndMediaTimeGoingOn() throws {
        let folder = try CaptionCLITests.folder("sessions-kill")
        let clip = folder.appendingPathComponent("yard.mkv").path
        try CaptionCLITests.clip(seconds: 240, at: clip)
        let state = folder.appendingPathComponent("state").path
        let command = ["watch", clip, "--model", Self.tinyModel, "--session", "yard", "--state-dir", state, "--events", "-"]
            + Self.watchSettings

        // First run: killed with SIGKILL once a few captions were printed.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: VigilBinary.path)
        process.arguments = command
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = Pipe()
        try process.run()
        var printed = Data()
        let deadline = Date().addingTimeInterval(livenessBound)
        while Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            printed.append(chunk)
            let complete = printed.prefix(through: printed.lastIndex(of: 10) ?? printed.startIndex)
            if Self.captions(Self.jsonLines(String(decoding: complete, as: UTF8.self))).count >= 4 { break }
        }
        let wasRunning = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(wasRunning, "the first run ended before it could be killed")
        // Only whole lines count: the kill may cut the last one.
        let whole = printed.prefix(through: printed.lastIndex(of: 10) ?? printed.startIndex)
        let seen = Self.captions(Self.jsonLines(String(decoding: whole, as: UTF8.self)))
        #expect(seen.count >= 4)

        let afterKill = try Self.show("yard", state: state)
        #expect(afterKill["runs"] as? Int == 1)
        #expect(afterKill["in_use"] as? Bool == false, "the lock of a killed process is gone with it")
        let exportKill = folder.appendingPathComponent("export-kill").path
        #expect(try VigilBinary.run(["sessions", "export", "yard", "-f", "jsonl", "-o", exportKill, "--state-dir", state])
            .status == 0)
        let killedEntries = Self.jsonLines(try String(contentsOfFile: exportKill + "/yard.jsonl", encoding: .utf8))
        let killedClips = killedEntries.filter { $0["level"] as? String == "clip" }
        for (start, end, text) in seen {
            #expect(killedClips.contains { $0["start"] as? Double == start && $0["end"] as? Double == end
                && $0["text"] as? String == text }, "the caption \(start)–\(end) printed before the kill is kept")
        }
        let firstEnd = try #require(killedClips.compactMap { $0["end"] as? Double }.max())

        // Second run: the same command resumes the session and runs to the end.
        let second = try VigilBinary.run(command)
        #expect(second.status == 0, "\(second.stderr.suffix(5))")
        let secondCaptions = Self.captions(second.stdout.compactMap { try? VigilBinary.object($0) })
        #expect(secondCaptions.count >= 50, "the second run captions its own 240 s (\(secondCaptions.count))")
        #expect(secondCaptions.allSatisfy { $0.0 >= firstEnd }, "media time continues after \(firstEnd)")
        let resumed = try Self.show("yard", state: state)
        #expect(resumed["runs"] as? Int == 2)
        #expect((resumed["last_media_time"] as? Double ?? 0) >= firstEnd + 230)

        let exported = folder.appendingPathComponent("export").path
        let export = try VigilBinary.run(["sessions", "export", "yard", "-f", "all", "-o", exported, "--state-dir", state])
        #expect(export.status == 0, "\(export.stderr)")
        let entries = Self.jsonLines(try String(contentsOfFile: exported + "/yard.jsonl", encoding: .utf8))
        let clips = entries.filter { $0["level"] as? String == "clip" }
        #expect(Array(clips.prefix(killedClips.count)).map { "\($0["start"]!) \($0["text"]!)" }
            == killedClips.map { "\($0["start"]!) \($0["text"]!)" }, "the first run's captions are unchanged")
        let starts = clips.compactMap { $0["start"] as? Double }
        #expect(zip(starts, starts.dropFirst()).allSatisfy { $0 < $1 }, "one caption per clip, in order")
        let srt = try SubtitleParsers.srt(try String(contentsOfFile: exported + "/yard.srt", encoding: .utf8))
        let vtt = try SubtitleParsers.webVTT(try String(contentsOfFile: exported + "/yard.vtt", encoding: .utf8))
        #expect(!srt.isEmpty && srt.count == vtt.cues.count)
        #expect(zip(srt, srt.dropFirst()).allSatisfy { $0.end <= $1.start })

        let list = try VigilBinary.run(["sessions", "list", "--state-dir", state])
        #expect(list.status == 0 && list.stdout.contains { $0.hasPrefix("yard") && $0.contains("2 runs") }, "\(list.stdout)")
        #expect(try VigilBinary.run(["sessions", "rm", "yard", "--state-dir", state]).status == 0)
        let again = try VigilBinary.run(["sessions", "rm", "yard", "--state-dir", state])
        #expect(again.status == 1 && again.stderr.joined().contains("yard"))
        #expect(try VigilBinary.run(["sessions", "list", "--json", "--state-dir", state]).stdout.isEmpty)
    }

    @Test func damagedDatabasesAndBadNamesFailCleanly() throws {
        let folder = try CaptionCLITests.folder("sessions-bad")
        let clip = folder.appendingPathComponent("short.mkv").path
        try CaptionCLITests.clip(seconds: 10, at: clip)
        let state = folder.appendingPathComponent("state").path
        let database = state + "/sessions/cam/session.sqlite"
        try FileManager.default.createDirectory(atPath: state + "/sessions/cam", withIntermediateDirectories: true)
        let junk = Data("SQLite format 3\u{0}".utf8) + Data(repeating: 0x5A, count: 4_096)
        try junk.write(to: URL(fileURLWithPath: database))

        let watch = try VigilBinary.run(
            ["watch", clip, "--model", Self.tinyModel, "--session", "cam", "--state-dir", state] + Self.watchSettings)
        #expect(watch.status == 1)
        let message = watch.stderr.joined(separator: "\n")
        #expect(message.contains(database) && !message.contains("Fatal error"), "\(message)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: database)) == junk, "never overwritten")
        let list = try VigilBinary.run(["sessions", "list", "--state-dir", state])
        #expect(list.status == 0 && list.stdout.contains { $0.contains("cam") && $0.contains("unreadable") })

        let badName = try VigilBinary.run(["watch", clip, "--model", Self.tinyModel, "--session", "../etc"])
        #expect(badName.status == 64 && badName.stderr.joined().contains("../etc"))
        let missing = try VigilBinary.run(["sessions", "show", "nobody", "--state-dir", state])
        #expect(missing.status == 1 && missing.stderr.joined().contains("nobody"))
    }
}
