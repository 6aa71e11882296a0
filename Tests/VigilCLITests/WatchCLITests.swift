// `vigil watch` as people and scripts use it, on the tiny fixture model and synthetic clips replayed in real time:
//   - scripted: a question written to standard input mid-stream is answered with an `answer` event whose `asked_at`
//     is the media time at which the line was read, while `status` events show frames still flowing;
//   - at a terminal (tmux, a real pseudo-terminal): status lines scroll above a half-typed question without
//     corrupting it, the answer shows the time it was asked at, /quit leaves cleanly.
// Bad sources and settings exit 1 or 64 with one clear line.

import Foundation
import Testing
import TestSupport
import VigilCore

@Suite(.serialized, .holdingSerialLock) struct WatchCLITests {
    static var vigil: String { Tmux.built("vigil") }
    static var tinyModel: String { Fixtures.url("smolvlm/tiny").path }

    /// A `seconds`-long 64×64 clip at 5 fps (made with ffmpeg once per test run).
    static func clip(seconds: Int) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-watch-tests")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("moving_\(seconds)s.mkv").path
        if FileManager.default.fileExists(atPath: path) { return path }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=0x406080:s=64x64:r=5:d=\(seconds)",
            "-vf", "drawbox=x='mod(t*6,56)':y=28:w=8:h=8:color=yellow:t=fill", "-c:v", "ffv1", path + ".part.mkv",
        ]
        try p.run()
        p.waitUntilExit()
        try FileManager.default.moveItem(atPath: path + ".part.mkv", toPath: path)
        return path
    }

    static let sessionOptions = [
        "--keep-tokens", "3", "--retrieval-mb", "4", "--max-answer-tokens", "8", "--status-interval", "0.5",
    ]

    @Test func aScriptedQuestionIsAnsweredAtTheMediaTimeItWasRead() throws {
        let source = try Self.clip(seconds: 30)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.vigil)
        process.arguments = ["watch", source, "--realtime", "--model", Self.tinyModel, "--events", "-"] + Self.sessionOptions
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // Read events as they come; once frames are flowing, ask.
        var events: [[String: Any]] = []
        var buffer = Data()
        var askedAfterMedia: Double?
        let reader = output.fileHandleForReading
        let deadline = Date().addingTimeInterval(livenessBound)
        while Date() < deadline {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: 10) {
                let line = buffer[buffer.startIndex..<newline]
                buffer.removeSubrange(buffer.startIndex...newline)
                guard let object = try JSONSerialization.jsonObject(with: line) as? [String: Any] else { continue }
                events.append(object)
                if askedAfterMedia == nil, object["type"] as? String == "status",
                    (object["frames_processed"] as? Int ?? 0) >= 20, let media = object["media_time"] as? Double
                {
                    askedAfterMedia = media
                    input.fileHandleForWriting.write("what is happening?\n".data(using: .utf8)!)
                    try input.fileHandleForWriting.close()
                }
            }
        }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let media = try #require(askedAfterMedia, "frames were flowing before the question")
        let answers = events.filter { $0["type"] as? String == "answer" }
        #expect(answers.count == 1)
        let answer = try #require(answers.first)
        let askedAt = try #require(answer["asked_at"] as? Double)
        // Read right after a status at `media`; the clip plays in real time, so at most a little later.
        #expect(askedAt >= media && askedAt <= media + 2, "asked_at \(askedAt), status media time \(media)")
        #expect(answer["question"] as? String == "what is happening?")
        #expect((answer["ttft_ms"] as? Double).map { $0 >= 0 } == true)
        #expect(!((answer["evidence"] as? [Any]) ?? []).isEmpty)
        // Frames kept flowing after the answer.
        let index = events.firstIndex { $0["type"] as? String == "answer" }!
        let later = events[index...].filter { $0["type"] as? String == "status" }.compactMap { $0["frames_processed"] as? Int }
        let before = events[..<index].filter { $0["type"] as? String == "status" }.compactMap { $0["frames_processed"] as? Int }
        #expect((later.max() ?? 0) > (before.max() ?? 0), "status events after the answer show more frames processed")
        #expect(events.last?["type"] as? String == "status" && events.last?["state"] as? String == "ended")
    }

    @Test func atATerminalOutputNeverCorruptsAHalfTypedQuestion() throws {
        guard Tmux.isInstalled else {
            #expect(!Fixtures.isCI, "tmux is not installed: run scripts/setup")
            return
        }
        let source = try Self.clip(seconds: 120)
        let tmux = try Tmux(program: Self.vigil, width: 100, height: 30)
        defer { tmux.stop() }
        let command = ([Self.vigil, "watch", source, "--realtime", "--model", Self.tinyModel] + Self.sessionOptions)
            .map { "'\($0)'" }.joined(separator: " ")
        try tmux.start("VIGIL_CACHE='\(tmux.directory.path)' " + command)
        _ = try tmux.waitFor("status lines") { $0.lines.filter { $0.contains(" live · ") }.count >= 2 }
        try tmux.type("what is mov")
        let typed = try tmux.waitFor("more status lines under the typing") { screen in
            screen.lines.filter { $0.contains(" live · ") }.count >= 6
        }
        #expect(typed.lastLine == "> what is mov", "\(typed)")
        #expect(typed.cursor.x == "> what is mov".count)
        try tmux.type("ing?")
        try tmux.keys("Enter")
        let answered = try tmux.waitFor("the answer", scrollback: true) { $0.lines.contains { $0.contains("ttft ") } }
        let asked = try #require(answered.lines.first { $0.hasPrefix("? what is moving?") }, "\(answered)")
        #expect(asked.contains("[asked at 00:"))
        try tmux.type("/status")
        try tmux.keys("Enter")
        _ = try tmux.waitFor("the status report", scrollback: true) { $0.lines.contains { $0.contains("  kv: ") } }
        try tmux.type("/quit")
        try tmux.keys("Enter")
        let done = try tmux.waitFor("the exit", scrollback: true) { $0.lines.contains { $0.hasPrefix("status=") } }
        #expect(done.lines.contains("status=0"), "\(done)")
    }

    @Test func badSourcesAndSettingsFailCleanly() throws {
        func run(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.vigil)
            p.arguments = arguments
            let err = Pipe()
            p.standardError = err
            p.standardOutput = FileHandle.nullDevice
            p.standardInput = FileHandle.nullDevice
            try p.run()
            let data = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        let missing = try run(["watch", "/nonexistent/clip.mp4", "--model", Self.tinyModel, "--retrieval-mb", "1"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("/nonexistent/clip.mp4"))
        let badValue = try run(["watch", "x.mp4", "--model", Self.tinyModel, "--keep-tokens", "zero"])
        #expect(badValue.status == 64)
        #expect(badValue.stderr.contains("--keep-tokens"))
        let badPreset = try run(["watch", "x.mp4", "--model", Self.tinyModel, "--pipeline", "no-such-preset"])
        #expect(badPreset.status == 1)
        #expect(badPreset.stderr.contains("no-such-preset"))
        let noRoom = try run(["watch", "x.mp4", "--model", Self.tinyModel, "--max-positions", "512"])
        #expect(noRoom.status == 1)
        #expect(noRoom.stderr.contains("--max-positions 512"))
    }
}
