// Process output. Every write goes straight to the file descriptor (write(2), no stdio buffer), so streamed JSON
// lines and tokens are visible as they are produced and nothing is lost on SIGINT/SIGTERM. While an interactive
// input line owns the terminal (VigilCLI's LineEditor), a terminal sink receives the writes aimed at terminals
// instead, so that they are drawn above the half-typed line rather than through it.

import Glibc
import Synchronization

/// Unbuffered, thread-safe writers for standard output and standard error.
public enum Console {
    private static let lock = Mutex(())

    /// Receives the text of a write aimed at a terminal, and the file descriptor it was aimed at.
    public typealias TerminalSink = @Sendable (_ text: String, _ fd: Int32) -> Void

    private struct SinkState: Sendable {
        var sink: TerminalSink?
        /// Whether fds 1 and 2 were terminals when the sink was set (checked once, not on every write).
        var stdoutIsTerminal = false
        var stderrIsTerminal = false
    }

    private static let sinkState = Mutex(SinkState())

    /// Writes `text` to standard output as is.
    public static func out(_ text: String) { write(text, to: 1) }

    /// Writes `line` and a newline to standard output.
    public static func outLine(_ line: String) { write(line + "\n", to: 1) }

    /// Writes `line` and a newline to standard error.
    public static func errLine(_ line: String) { write(line + "\n", to: 2) }

    /// Writes one JSON line to standard output.
    public static func json(_ value: JSONValue) { outLine(value.serialized()) }

    /// True when standard error is a terminal (progress bars are drawn only then).
    public static var stderrIsTerminal: Bool { isatty(2) == 1 }

    /// True when standard output is a terminal.
    public static var stdoutIsTerminal: Bool { isatty(1) == 1 }

    /// Sends every later write aimed at a terminal to `sink` instead of the file descriptor, or (nil) stops doing
    /// so. Writes to files and pipes are not affected. The sink is called outside Console's lock, on the writing
    /// thread, so it may take its own lock; it must not write through Console itself.
    public static func setTerminalSink(_ sink: TerminalSink?) {
        let state = SinkState(sink: sink, stdoutIsTerminal: isatty(1) == 1, stderrIsTerminal: isatty(2) == 1)
        sinkState.withLock { $0 = state }
    }

    /// Writes all of `text` to `fd`, retrying on EINTR and short writes (or hands it to the terminal sink).
    public static func write(_ text: String, to fd: Int32) {
        if let sink = terminalSink(for: fd) {
            sink(text, fd)
            return
        }
        var text = text
        lock.withLock { _ in
            text.withUTF8 { buffer in
                var offset = 0
                while offset < buffer.count {
                    let n = systemWrite(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return
                    }
                    offset += n
                }
            }
        }
    }
}

extension Console {
    /// The sink that takes writes to `fd`, if one is set and `fd` is a terminal.
    private static func terminalSink(for fd: Int32) -> TerminalSink? {
        let state = sinkState.withLock { $0 }
        guard let sink = state.sink else { return nil }
        let isTerminal: Bool
        switch fd {
        case 1: isTerminal = state.stdoutIsTerminal
        case 2: isTerminal = state.stderrIsTerminal
        default: isTerminal = isatty(fd) == 1
        }
        return isTerminal ? sink : nil
    }
}

private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    Glibc.write(fd, buffer, count)
}
