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

// MARK: - Driving tmux

/// A private tmux server (its own socket, in a temporary folder) with one 80×24 session running a shell.
private struct Tmux {
    /// The tmux executable, if installed.
    static let executable: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let candidates = path.split(separator: ":").map { "\($0)/tmux" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    static var isInstalled: Bool { executable != nil }

    /// The demo, next to the test bundle in the build folder.
    static var demo: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("LineEditorDemo").path
    }

    /// A temporary folder for this session: the server's socket, history files.
    let directory: URL
    private var socket: String { directory.appendingPathComponent("socket").path }

    init() throws {
        guard Self.executable != nil else { throw FixtureError("tmux is not installed: run scripts/setup") }
        guard FileManager.default.isExecutableFile(atPath: Self.demo) else {
            throw FixtureError("\(Self.demo) is missing: build it first (swift build)")
        }
        directory = URL(fileURLWithPath: "/tmp/vigil-tmux-\(UUID().uuidString.prefix(8))")  // socket paths are short
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try run(["new-session", "-d", "-x", "80", "-y", "24", "-s", "test", "sh"])
    }

    /// Clears the screen and runs the demo from the shell, which then prints "status=<exit status>".
    func startDemo(historyFile: URL? = nil) throws {
        let history = historyFile.map { " '\($0.path)'" } ?? ""
        try type("clear; EDITRC=/dev/null '\(Self.demo)'\(history); echo status=$?")
        try keys("Enter")
    }

    /// Types `text` literally.
    func type(_ text: String) throws { _ = try run(["send-keys", "-t", "test", "-l", text]) }

    /// Presses keys by tmux name (Enter, Up, Left, C-c, ...).
    func keys(_ names: String...) throws { _ = try run(["send-keys", "-t", "test"] + names) }

    /// The screen (and the scrollback if asked) and the cursor, read in one tmux command.
    func capture(scrollback: Bool = false) throws -> Screen {
        let output = try run(
            ["capture-pane", "-p", "-t", "test"] + (scrollback ? ["-S", "-"] : [])
                + [";", "display-message", "-p", "-t", "test", "#{cursor_x} #{cursor_y} #{history_size}"])
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        let cursorLine = lines.removeLast().split(separator: " ").compactMap { Int($0) }
        let offset = scrollback ? cursorLine[2] : 0
        return Screen(lines: lines, cursor: (cursorLine[0], cursorLine[1] + offset))
    }

    /// Polls the screen until `condition` holds (up to 30 s) and returns it; throws with the last screen if not.
    func waitFor(
        _ what: String, scrollback: Bool = false, _ condition: (Screen) -> Bool
    ) throws -> Screen {
        let deadline = Date().addingTimeInterval(30)
        var screen = try capture(scrollback: scrollback)
        while !condition(screen) {
            guard Date() < deadline else { throw FixtureError("timed out waiting for \(what); screen:\n\(screen)") }
            Thread.sleep(forTimeInterval: 0.1)
            screen = try capture(scrollback: scrollback)
        }
        return screen
    }

    /// Kills the session (hanging up the shell and the demo in it), then the server, and removes the folder.
    /// kill-server alone can leave a server waiting on a pane that is still running.
    func stop() {
        _ = try? run(["kill-session", "-t", "test"])
        _ = try? run(["kill-server"])
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs tmux with `arguments` and returns what it printed. posix_spawn and waitpid rather than Process:
    /// the tmux server that new-session starts inherits the client's descriptors, among them the one Process
    /// watches to notice the exit, which then never comes. Output goes to a file for the same reason.
    @discardableResult
    private func run(_ arguments: [String]) throws -> String {
        let output = directory.appendingPathComponent("tmux-output-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([Self.executable!, "-S", socket, "-f", "/dev/null"] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, Self.executable!, &actions, nil, argv, environ)
        guard spawned == 0 else { throw FixtureError("cannot run tmux: error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else {
            throw FixtureError("tmux \(arguments.joined(separator: " ")) failed (wait status \(status))")
        }
        return (try? String(contentsOf: output, encoding: .utf8)) ?? ""
    }
}

/// What a tmux pane shows.
private struct Screen: CustomStringConvertible {
    /// The rows, trailing spaces trimmed by tmux.
    var lines: [String]
    /// The cursor (column, row), the row counted in `lines`.
    var cursor: (x: Int, y: Int)

    /// The index of the last row with text.
    var lastLineIndex: Int { lines.lastIndex { !$0.isEmpty } ?? 0 }

    /// The last row with text.
    var lastLine: String { lines.isEmpty ? "" : lines[lastLineIndex] }

    /// The largest n among "counter n" rows (0 if none).
    var maxCounter: Int {
        lines.compactMap { $0.wholeMatch(of: /counter (\d+)/).flatMap { Int($0.1) } }.max() ?? 0
    }

    var description: String {
        lines.enumerated().map { "\($0.offset)|\($0.element)" }.joined(separator: "\n") + "\ncursor \(cursor)"
    }
}
