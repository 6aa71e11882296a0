// The contract every error type that can reach the user follows (one error type per module).

/// An error whose `description` is written for the person running Vigil: which file, URL or key, what is wrong,
/// and what to do about it. The CLI prints it as is and exits with status 1.
public protocol UserFacingError: Error, CustomStringConvertible {}

/// Diagnostics on standard error, prefixed `vigil:`; `quiet` silences warnings and info.
public enum Log {
    /// Verbosity of Vigil's own messages.
    public enum Level: Int, Sendable, Comparable {
        case quiet = 0, error, warning, info, debug
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
    }

    private static let state = LevelBox()

    /// The current verbosity (default `.warning`).
    public static var level: Level {
        get { state.level }
        set { state.level = newValue }
    }

    /// Writes `message` as an error line.
    public static func error(_ message: String) { if level >= .error { Console.errLine("vigil: error: " + message) } }
    /// Writes `message` as a warning line.
    public static func warning(_ message: String) {
        if level >= .warning { Console.errLine("vigil: warning: " + message) }
    }
    /// Writes `message` as an information line.
    public static func info(_ message: String) { if level >= .info { Console.errLine("vigil: " + message) } }
    /// Writes `message` when debugging output is on.
    public static func debug(_ message: String) { if level >= .debug { Console.errLine("vigil: debug: " + message) } }
}

import Synchronization

private final class LevelBox: Sendable {
    private let value = Atomic<Int>(Log.Level.warning.rawValue)
    var level: Log.Level {
        get { Log.Level(rawValue: value.load(ordering: .relaxed)) ?? .warning }
        set { value.store(newValue.rawValue, ordering: .relaxed) }
    }
}
