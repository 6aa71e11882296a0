// `vigil frames <source>`: samples a file or stream at --fps (MediaIngest.frames) and prints one line per sampled
// frame (JSON with --json), optionally writing each as a PNG. Status and error events go to standard error: JSON
// lines in the event schema with --json, short `vigil:` messages otherwise. Also holds the source options shared
// with `vigil probe`.

import Foundation
import MediaIngest
import Synchronization
import VigilCore

/// `vigil frames`.
struct FramesCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "frames",
        abstract: "Sample frames from a video file or stream.",
        discussion: """
            For each target time k/F (k = 0, 1, 2, ...) the first decoded frame at or after it is sampled; times \
            are media time, seconds from the first decoded frame. Files are read as fast as the output is consumed; \
            live sources (rtsp://) and --realtime replays drop the oldest frames when the output falls behind, and \
            live sources reconnect after a drop or stall. With --json, each sampled frame is one line \
            {"index","pts","width","height"} on standard output and status events are JSON lines on standard error.
            """,
        arguments: [
            .positional("source", help: "A video file, '-' for standard input, or an rtsp:// or http(s):// URL."),
            .option("--fps", value: "F", help: "Samples per second of media time.", default: "1"),
            .option("--size", value: "N", help: "Deliver N×N frames (squashed), or see --keep-aspect."),
            .flag("--keep-aspect", help: "With --size: fit the long edge to N and keep the aspect ratio."),
            .flag("--realtime", help: "Replay a file at its own pace, dropping frames the output cannot keep up with."),
            .option("--out", value: "DIR", help: "Write each sampled frame as DIR/frame_NNNNNN.png."),
            .flag("--json", help: "JSON lines: frames on standard output, events on standard error."),
        ] + SourceArguments.specs + SourceArguments.reconnectSpecs,
        examples: [
            "vigil frames clip.mp4 --fps 1 --json",
            "vigil frames clip.mp4 --fps 2 --size 512 --keep-aspect --out frames/",
            "vigil frames rtsp://user:pass@camera.local/stream --json --timeout 3",
        ])

    let source: String
    let fps: Double
    let size: OutputSize
    let realtime: Bool
    let outputDirectory: String?
    let json: Bool
    let sourceArguments: SourceArguments

    init(_ arguments: ParsedArguments) throws {
        source = try arguments.required("source")
        fps = try arguments.double("--fps", default: 1, in: 0.001...1000)
        let keepAspect = arguments.flag("--keep-aspect")
        let side = try arguments.int("--size", in: 1...16384)
        if keepAspect && side == nil { throw ValidationError("'--keep-aspect' needs '--size N'") }
        size = OutputSize(size: side, keepAspect: keepAspect)
        realtime = arguments.flag("--realtime")
        outputDirectory = arguments.value("--out")
        json = arguments.flag("--json")
        sourceArguments = try SourceArguments(arguments)
    }

    func run() async throws {
        sourceArguments.applyLogLevel()
        if let outputDirectory {
            do {
                try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
            } catch {
                throw MediaError.writeFailed(path: outputDirectory, reason: "cannot create the folder")
            }
        }
        var options = sourceArguments.ingestOptions()
        options.fps = fps
        options.size = size
        options.realtime = realtime
        let json = self.json
        let stream = frames(from: source, options: options) { event in
            if json {
                Console.errLine(event.json.serialized())
            } else {
                Self.report(event)
            }
        }
        Interruption.onInterrupt { stream.stop() }
        do {
            for try await frame in stream {
                var path: String?
                if let outputDirectory {
                    let name = "frame_" + Self.padded(frame.index, width: 6) + ".png"
                    path = URL(fileURLWithPath: outputDirectory).appendingPathComponent(name).path
                    try ImageFile.writePNG(frame.image, to: path!)
                }
                if json {
                    Console.json(Self.json(frame, path: path))
                } else {
                    var line = Self.padded(frame.index, width: 6, pad: " ") + "  \(frame.time)  "
                    line += "\(frame.image.width)x\(frame.image.height)"
                    if let path { line += "  \(path)" }
                    Console.outLine(line)
                }
            }
            if Interruption.isRequested {
                // Let the decode thread report its last state ("ended") before the process exits.
                _ = await stream.waitUntilFinished(upTo: 1)
            }
        } catch let error as MediaError {
            stream.stop()
            // With --json the failure has been reported as an error event already; standard error stays JSON.
            if json, !Self.isOutputError(error) { throw ExitRequest(.failure) }
            throw error
        }
    }

    /// One `--json` frame line.
    static func json(_ frame: SampledFrame, path: String?) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("index", .int(frame.index)),
            ("pts", .double((frame.time.seconds * 1_000_000).rounded() / 1_000_000)),
            ("width", .int(frame.image.width)),
            ("height", .int(frame.image.height)),
        ]
        if let wallClock = frame.wallClock {
            members.append(("wall_clock", .double((wallClock.timeIntervalSince1970 * 1000).rounded() / 1000)))
        }
        if let path { members.append(("path", .string(path))) }
        return .object(members)
    }

    /// Events as short messages: reconnects and stalls as warnings, the rest as information.
    static func report(_ event: VigilEvent) {
        switch event {
        case .segment, .answer, .alert:
            return
        case .error(_, _, let message, let retryIn):
            // Fatal errors are thrown and printed once by the dispatcher.
            guard let retryIn else { return }
            Log.warning("\(message) Retrying in \(formatDelay(retryIn)).")
        case .status(let status):
            switch status.state {
            case .connecting: Log.info("opening \(status.source)")
            case .live:
                if let detail = status.detail {
                    Log.warning("\(status.source): \(detail)")
                } else {
                    Log.info("reading \(status.source)")
                }
            case .reconnecting: Log.warning("\(status.source): reconnecting (\(status.detail ?? "connection lost"))")
            case .ended:
                let sampled = status.framesSampled.map { ", \($0) frames sampled" } ?? ""
                let dropped = (status.dropped ?? 0) > 0 ? ", \(status.dropped!) dropped" : ""
                Log.info("\(status.source): ended\(sampled)\(dropped)")
            case .failed: break
            }
        }
    }

    private static func isOutputError(_ error: MediaError) -> Bool {
        if case .writeFailed = error { return true }
        return false
    }

    private static func formatDelay(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }

    static func padded(_ value: Int, width: Int, pad: Character = "0") -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: pad, count: width - text.count) + text
    }
}

/// Options shared by `probe` and `frames`: network timeout, RTSP transport, FFmpeg's log level.
struct SourceArguments: Sendable {
    static let specs: [ArgumentSpec] = [
        .option("--timeout", value: "S", help: "Network timeout in seconds (connect, stall detection).", default: "5"),
        .option("--rtsp-transport", value: "tcp|udp", help: "RTSP transport.", default: "tcp"),
        .option(
            "--log-level", value: "LEVEL",
            help: "FFmpeg's own log: quiet|panic|fatal|error|warning|info|verbose|debug|trace.", default: "quiet"),
    ]

    static let reconnectSpecs: [ArgumentSpec] = [
        .option(
            "--reconnect-attempts", value: "N",
            help: "Reconnection attempts per outage of a live source; -1 = forever.",
            default: "-1"),
        .option(
            "--reconnect-max-delay", value: "S", help: "Longest wait between reconnection attempts (1, 2, 4, ... s).",
            default: "30"),
    ]

    var timeout: Double
    var rtspTransport: RTSPTransport
    var logLevel: FFmpegLogLevel?
    var reconnectAttempts: Int
    var reconnectMaxDelay: Double

    init(_ arguments: ParsedArguments) throws(ValidationError) {
        timeout = try arguments.double("--timeout", default: 5, in: 0.1...3600)
        rtspTransport = try arguments.choice("--rtsp-transport", default: RTSPTransport.tcp)
        logLevel = arguments.value("--log-level") == nil ? nil : try arguments.choice("--log-level", default: .quiet)
        reconnectAttempts = try arguments.int("--reconnect-attempts", default: -1, in: -1...Int.max)
        reconnectMaxDelay = try arguments.double("--reconnect-max-delay", default: 30, in: 1...86400)
    }

    func applyLogLevel() {
        if let logLevel { FFmpeg.logLevel = logLevel }
    }

    func ingestOptions() -> IngestOptions {
        IngestOptions(
            timeout: timeout, reconnectAttempts: reconnectAttempts, reconnectMaxDelay: reconnectMaxDelay,
            rtspTransport: rtspTransport)
    }
}

/// Runs blocking work (FFmpeg calls) on a thread of its own and awaits its result, so Swift's cooperative pool is
/// never blocked. When the awaiting task is cancelled (Ctrl-C) it stops waiting at once; the thread finishes on its
/// own (FFmpeg calls are bounded by their timeouts).
func runOnThread<T: Sendable>(_ body: @escaping @Sendable () throws(MediaError) -> T) async throws -> T {
    let once = OnceResumer<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            once.install(continuation)
            let thread = Thread {
                do throws(MediaError) {
                    once.resume(with: .success(try body()))
                } catch {
                    once.resume(with: .failure(error))
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    } onCancel: {
        once.resume(with: .failure(CancellationError()))
    }
}

/// Resumes a continuation exactly once, whichever of the worker and the cancellation comes first.
private final class OnceResumer<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, early: Result<T, any Error>?)>(
        (nil, nil))

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let early: Result<T, any Error>? = state.withLock { state in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    func resume(with result: Result<T, any Error>) {
        let continuation: CheckedContinuation<T, any Error>? = state.withLock { state in
            if let continuation = state.continuation {
                state.continuation = nil
                state.early = result
                return continuation
            }
            if state.early == nil { state.early = result }
            return nil
        }
        continuation?.resume(with: result)
    }
}
