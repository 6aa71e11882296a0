// Process output. Every write goes straight to the file descriptor (write(2), no stdio buffer), so streamed JSON
// lines and tokens are visible as they are produced and nothing is lost on SIGINT/SIGTERM.

import Glibc
import Synchronization

/// Unbuffered, thread-safe writers for standard output and standard error.
public enum Console {
    private static let lock = Mutex(())

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

    /// Writes all of `text` to `fd`, retrying on EINTR and short writes.
    public static func write(_ text: String, to fd: Int32) {
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

private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    Glibc.write(fd, buffer, count)
}
