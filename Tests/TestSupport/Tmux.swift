// Driving a terminal program through a real pseudo-terminal: a private tmux server (its own socket) with one session,
// keys sent with send-keys, the screen read with capture-pane. Used by the line editor and `vigil watch` tests.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private tmux server (its own socket, in a temporary folder) with one 80×24 session running a shell.
public struct Tmux {
    /// The tmux executable, if installed.
    public static let executable: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let candidates = path.split(separator: ":").map { "\($0)/tmux" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    public static var isInstalled: Bool { executable != nil }

    /// An executable built next to the test bundle (the build folder), e.g. "LineEditorDemo" or "vigil".
    public static func built(_ name: String) -> String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent(name).path
    }

    /// The line editor demo.
    public static var demo: String { built("LineEditorDemo") }

    /// A temporary folder for this session: the server's socket, history files.
    public let directory: URL
    private var socket: String { directory.appendingPathComponent("socket").path }

    /// A session `width`×`height` running a shell; `program` must be built (checked here).
    public init(program: String = Tmux.demo, width: Int = 80, height: Int = 24) throws {
        guard Self.executable != nil else { throw FixtureError("tmux is not installed: run scripts/setup") }
        guard FileManager.default.isExecutableFile(atPath: program) else {
            throw FixtureError("\(program) is missing: build it first (swift build)")
        }
        directory = URL(fileURLWithPath: "/tmp/vigil-tmux-\(UUID().uuidString.prefix(8))")  // socket paths are short
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try run(["new-session", "-d", "-x", "\(width)", "-y", "\(height)", "-s", "test", "sh"])
    }

    /// Clears the screen and runs `command` (a shell line) from the shell, which then prints "status=<exit status>".
    public func start(_ command: String) throws {
        try type("clear; \(command); echo status=$?")
        try keys("Enter")
    }

    /// Clears the screen and runs the demo from the shell, which then prints "status=<exit status>".
    public func startDemo(historyFile: URL? = nil) throws {
        let history = historyFile.map { " '\($0.path)'" } ?? ""
        try type("clear; EDITRC=/dev/null '\(Self.demo)'\(history); echo status=$?")
        try keys("Enter")
    }

    /// Types `text` literally.
    public func type(_ text: String) throws { _ = try run(["send-keys", "-t", "test", "-l", text]) }

    /// Presses keys by tmux name (Enter, Up, Left, C-c, ...).
    public func keys(_ names: String...) throws { _ = try run(["send-keys", "-t", "test"] + names) }

    /// The screen (and the scrollback if asked) and the cursor, read in one tmux command.
    public func capture(scrollback: Bool = false) throws -> Screen {
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
    public func waitFor(
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
    public func stop() {
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
public struct Screen: CustomStringConvertible {
    /// The rows, trailing spaces trimmed by tmux.
    public var lines: [String]
    /// The cursor (column, row), the row counted in `lines`.
    public var cursor: (x: Int, y: Int)

    /// The index of the last row with text.
    public var lastLineIndex: Int { lines.lastIndex { !$0.isEmpty } ?? 0 }

    /// The last row with text.
    public var lastLine: String { lines.isEmpty ? "" : lines[lastLineIndex] }

    /// The largest n among "counter n" rows (0 if none).
    public var maxCounter: Int {
        lines.compactMap { $0.wholeMatch(of: /counter (\d+)/).flatMap { Int($0.1) } }.max() ?? 0
    }

    public var description: String {
        lines.enumerated().map { "\($0.offset)|\($0.element)" }.joined(separator: "\n") + "\ncursor \(cursor)"
    }
}
