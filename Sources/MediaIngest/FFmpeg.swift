// Process-wide FFmpeg settings and the interrupt machinery every blocking FFmpeg call runs under.
//
// FFmpeg's own log is silent unless `FFmpeg.logLevel` is set (vigil --log-level); Vigil prints its own messages.
// `InterruptState` is handed to libavformat as the `AVIOInterruptCB` opaque pointer: FFmpeg polls it during every
// blocking read, connect and probe, and Vigil answers "stop" when the consumer went away (abort) or when the
// current operation's deadline has passed (the network timeout).

import CFFmpeg
import Synchronization

/// FFmpeg's log verbosity, as `--log-level` names it.
public enum FFmpegLogLevel: String, Sendable, CaseIterable {
    case quiet, panic, fatal, error, warning, info, verbose, debug, trace

    var rawLevel: Int32 {
        switch self {
        case .quiet: return AV_LOG_QUIET
        case .panic: return AV_LOG_PANIC
        case .fatal: return AV_LOG_FATAL
        case .error: return AV_LOG_ERROR
        case .warning: return AV_LOG_WARNING
        case .info: return AV_LOG_INFO
        case .verbose: return AV_LOG_VERBOSE
        case .debug: return AV_LOG_DEBUG
        case .trace: return AV_LOG_TRACE
        }
    }
}

/// Process-wide FFmpeg helpers.
public enum FFmpeg {
    private static let configured = Atomic<Bool>(false)

    /// FFmpeg's own log level (default `.quiet`). Setting it affects the whole process.
    public static var logLevel: FFmpegLogLevel {
        get {
            let raw = av_log_get_level()
            return FFmpegLogLevel.allCases.last { $0.rawLevel <= raw } ?? .quiet
        }
        set {
            configured.store(true, ordering: .relaxed)
            av_log_set_level(newValue.rawLevel)
        }
    }

    /// Silences FFmpeg's log unless a level was chosen explicitly. Called before any FFmpeg work.
    static func prepare() {
        if !configured.load(ordering: .relaxed) {
            av_log_set_level(AV_LOG_QUIET)
        }
        av_max_alloc(MediaLimits.maxAllocationBytes)
    }

    /// FFmpeg's text for an error code ("Connection refused").
    static func errorText(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        if av_strerror(code, &buffer, buffer.count) < 0 {
            return "FFmpeg error \(code)"
        }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Monotonic time in seconds (FFmpeg's relative clock).
    static func now() -> Double { Double(av_gettime_relative()) / 1_000_000 }
}

/// The state FFmpeg's interrupt callback reads: an abort flag set from any thread, and a deadline for the blocking
/// call in progress (set and cleared by the decode thread).
final class InterruptState: Sendable {
    private let aborted = Atomic<Bool>(false)
    /// Deadline in microseconds of `av_gettime_relative`, 0 for none.
    private let deadline = Atomic<Int64>(0)
    private let expired = Atomic<Bool>(false)

    /// Asks every blocking call to return as soon as FFmpeg next polls (safe from any thread).
    func abort() { aborted.store(true, ordering: .relaxed) }

    /// Whether `abort()` was called.
    var isAborted: Bool { aborted.load(ordering: .relaxed) }

    /// Starts a deadline `seconds` from now for the next blocking calls.
    func arm(seconds: Double) {
        expired.store(false, ordering: .relaxed)
        deadline.store(av_gettime_relative() + Int64(seconds * 1_000_000), ordering: .relaxed)
    }

    /// Removes the deadline.
    func disarm() {
        deadline.store(0, ordering: .relaxed)
        expired.store(false, ordering: .relaxed)
    }

    /// Whether the deadline has passed (and interrupted FFmpeg) since it was last armed.
    var hasExpired: Bool { expired.load(ordering: .relaxed) }

    /// The answer to FFmpeg's poll: 1 = stop now.
    func shouldInterrupt() -> Int32 {
        if aborted.load(ordering: .relaxed) { return 1 }
        let limit = deadline.load(ordering: .relaxed)
        if limit != 0 && av_gettime_relative() >= limit {
            expired.store(true, ordering: .relaxed)
            return 1
        }
        return 0
    }

    /// The callback record to install in an `AVFormatContext`. `self` must outlive the context.
    var callback: AVIOInterruptCB {
        AVIOInterruptCB(callback: interruptTrampoline, opaque: Unmanaged.passUnretained(self).toOpaque())
    }
}

/// The C entry point FFmpeg calls; it forwards to the `InterruptState` in `opaque`.
private let interruptTrampoline: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = { opaque in
    guard let opaque else { return 0 }
    return Unmanaged<InterruptState>.fromOpaque(opaque).takeUnretainedValue().shouldInterrupt()
}
