// The terminal input line through a real pseudo-terminal: tmux runs a shell in an 80×24 pane, the shell runs
// LineEditorDemo (a counter line every 200 ms, "got: <line>" per line, a streamed answer for "stream"), and the
// tests type into it (send-keys) and read the screen back (capture-pane, the cursor position). They check that
// output never corrupts a half-typed line, that history works across sessions, that a wrapped streamed answer
// arrives whole, and that Ctrl-C exits 130 with the terminal restored. Every wait polls the screen up to a
// generous bound; nothing is timed.

import Foundation
import Glibc
import TestSupport
import Testing

@testable import VigilCLI

@Suite(.serialized, .holdingSerialLock) struct LineEditorTests {
    @Test func initThrowsWithoutATerminal() throws {
        // `swift test` runs with stdin or stdout on a pipe (or both): the editor must refuse, with a clear error.
        guard !LineEditor.isAvailable else { return }
        #expect(throws: LineEditorError.self) { try LineEditor(prompt: "> ", historyFile: nil) }
        let error = LineEditorError.notATerminal("standard input")
        #expect(error.description.contains("standard input is not a terminal"))
    }

    @Test(.enabled(if: Tmux.isInstalled || Fixtures.isCI, "tmux is not installed: run scripts/setup"))
    func halfTypedLineSurvivesScrollingOutput() throws {
        let tmux = try Tmux()
        defer { tmux.stop() }
        try tmux.startDemo()
        let started = try tmux.waitFor("the prompt under counter lines") { $0.lastLine == ">" && $0.maxCounter >= 2 }

        try tmux.type("half a line")
        try tmux.keys("Left", "Left", "Left")
        let typed = started.maxCounter
        let screen = try tmux.waitFor("counter lines scrolling above the half-typed line") {
            $0.maxCounter >= typed + 6 && $0.lastLine == "> half a line" && $0.cursor.x == 10
        }
        // Every counter line is whole and they are consecutive; the input line is last, the cursor where it was.
        let counters = screen.lines.filter { $0.contains("counter") }
        for line in counters { #expect(line.wholeMatch(of: /counter \d+/) != nil, "corrupted: '\(line)'\n\(screen)") }
        let numbers = counters.compactMap { Int($0.dropFirst("counter ".count)) }
        #expect(numbers == Array((numbers.first ?? 0)..<((numbers.first ?? 0) + numbers.count)), "\(screen)")
        #expect(screen.cursor.y == screen.lastLineIndex, "\(screen)")
        #expect(screen.lines.filter { $0.hasPrefix(">") }.count == 1, "\(screen)")

        // Enter sends the whole line (the cursor in its middle does not matter); it stays above as typed.
        try tmux.keys("Enter")
        let entered = try tmux.waitFor("got: half a line") {
            $0.lines.contains("got: half a line") && $0.lastLine == ">"
        }
        let echo = try #require(entered.lines.firstIndex(of: "> half a line"), "\(entered)")
        let got = try #require(entered.lines.firstIndex(of: "got: half a line"))
        #expect(echo < got && got < entered.lastLineIndex, "\(entered)")

        // A Log line (standard error, through Console's terminal sink) lands above the input like the rest.
        try tmux.type("warn")
        try tmux.keys("Enter")
        try tmux.type("still here")
        let warned = try tmux.waitFor("the warning") {
            $0.lines.contains("vigil: warning: a warning through Console") && $0.lastLine == "> still here"
        }
        #expect(warned.cursor.x == "> still here".count && warned.cursor.y == warned.lastLineIndex, "\(warned)")
    }

    @Test(.enabled(if: Tmux.isInstalled || Fixtures.isCI, "tmux is not installed: run scripts/setup"))
    func upArrowRecallsHistoryAcrossSessions() throws {
        let tmux = try Tmux()
        defer { tmux.stop() }
        let history = tmux.directory.appendingPathComponent("history")
        try tmux.startDemo(historyFile: history)
        _ = try tmux.waitFor("the prompt") { $0.lastLine == ">" }
        try tmux.type("first question")
        try tmux.keys("Enter")
        _ = try tmux.waitFor("got: first question") { $0.lines.contains("got: first question") && $0.lastLine == ">" }
        try tmux.keys("Up")
        _ = try tmux.waitFor("the previous line recalled") { $0.lastLine == "> first question" }
        try tmux.keys("C-u")
        try tmux.type("quit")
        try tmux.keys("Enter")
        _ = try tmux.waitFor("the demo to quit with status 0") { $0.lines.contains("status=0") }
        #expect(FileManager.default.fileExists(atPath: history.path))

        // A new session loads the file: Up recalls "quit", then "first question"; Ctrl-D at an empty line ends it.
        try tmux.startDemo(historyFile: history)
        _ = try tmux.waitFor("the prompt of the second session") { $0.lastLine == ">" }
        try tmux.keys("Up")
        _ = try tmux.waitFor("the last line of the first session") { $0.lastLine == "> quit" }
        try tmux.keys("Up")
        _ = try tmux.waitFor("the line before it") { $0.lastLine == "> first question" }
        try tmux.keys("C-u")
        _ = try tmux.waitFor("an empty line") { $0.lastLine == ">" }
        try tmux.keys("C-d")
        let ended = try tmux.waitFor("Ctrl-D to end the demo") { $0.lines.contains("status=0") }
        #expect(!ended.lines.contains { $0.hasPrefix(">") }, "the input line is erased at the end\n\(ended)")
    }

    @Test(.enabled(if: Tmux.isInstalled || Fixtures.isCI, "tmux is not installed: run scripts/setup"))
    func anUnreadableHistoryFileIsReportedAndLeftAlone() throws {
        let tmux = try Tmux()
        defer { tmux.stop() }
        let history = tmux.directory.appendingPathComponent("history")
        try Data("not a history file\n".utf8).write(to: history)
        try tmux.startDemo(historyFile: history)
        _ = try tmux.waitFor("the warning naming the file, then the prompt") {
            $0.lines.joined().contains("cannot read the history file") && $0.lastLine == ">"
        }
        try tmux.type("quit")
        try tmux.keys("Enter")
        _ = try tmux.waitFor("the demo to quit with status 0") { $0.lines.contains("status=0") }
        #expect(try String(contentsOf: history, encoding: .utf8) == "not a history file\n")
    }

    @Test(.enabled(if: Tmux.isInstalled || Fixtures.isCI, "tmux is not installed: run scripts/setup"))
    func streamedAnswerWrapsIntactAboveTheInput() throws {
        let tmux = try Tmux()
        defer { tmux.stop() }
        try tmux.startDemo()
        _ = try tmux.waitFor("the prompt") { $0.lastLine == ">" }
        try tmux.type("stream")
        try tmux.keys("Enter")
        try tmux.type("half typed")  // typed while the answer streams in
        let screen = try tmux.waitFor("the end of the stream", scrollback: true) {
            $0.lines.contains("end of stream") && $0.lastLine == "> half typed"
        }
        // The answer's rows, with the counter lines that were written between them taken out, are the answer.
        let start = try #require(screen.lines.firstIndex(of: "got: stream"), "\(screen)")
        let end = try #require(screen.lines.firstIndex(of: "end of stream"), "\(screen)")
        let rows = screen.lines[(start + 1)..<end].filter { $0.wholeMatch(of: /counter \d+/) == nil }
        #expect(rows.count >= 3, "the answer wraps past 80 columns\n\(screen)")
        #expect(rows.allSatisfy { $0.count <= 80 })
        let answer = Self.answer.split(separator: " ").joined(separator: " ")
        #expect(rows.joined(separator: " ") == answer, "\(screen)")
        #expect(screen.cursor.x == "> half typed".count)
    }

    @Test(.enabled(if: Tmux.isInstalled || Fixtures.isCI, "tmux is not installed: run scripts/setup"))
    func ctrlCExitsWith130AndRestoresTheTerminal() throws {
        let tmux = try Tmux()
        defer { tmux.stop() }
        try tmux.startDemo()
        _ = try tmux.waitFor("the prompt") { $0.lastLine == ">" && $0.maxCounter >= 1 }
        try tmux.type("not finished")
        _ = try tmux.waitFor("the half-typed line") { $0.lastLine == "> not finished" }
        try tmux.keys("C-c")
        let exited = try tmux.waitFor("the demo to exit with 130") { $0.lines.contains("status=130") }
        #expect(!exited.lines.contains("> not finished"), "the input line is erased\n\(exited)")

        // The shell's terminal is back in cooked mode with echo.
        try tmux.type("stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo -e -icanon -e -echo | tr '\\n' ' '; echo")
        try tmux.keys("Enter")
        let stty = try tmux.waitFor("stty's flags") { $0.lines.contains { $0.hasPrefix("icanon") } }
        let flags = try #require(stty.lines.first { $0.hasPrefix("icanon") }).split(separator: " ")
        #expect(flags == ["icanon", "echo"], "\(stty)")
    }

    /// The demo's streamed answer (Tests/LineEditorDemo/main.swift).
    static let answer = """
        The camera shows a narrow street at dusk where a cyclist in a yellow jacket passes two parked cars, a dog \
        waits by a green door, and a delivery van slowly turns left at the far corner while the streetlights \
        flicker on one after another
        """
}

