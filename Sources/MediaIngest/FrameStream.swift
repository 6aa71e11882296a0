// The ingest: a dedicated decode thread (never Swift's cooperative pool) opens the source, decodes every video
// frame, keeps the media clock, applies the sampling rule, converts only the sampled frames to RGB and hands them
// to the consumer through a bounded `FrameChannel`. Live sources reconnect with backoff after they drop or stall;
// status and error events are reported through a callback as they happen.
//
// State machine (events in `{"type":"status","state":…}`):
//   live → ended                      (a file read to its end)
//   failed                            (a file that cannot be read)
//   connecting → live → …             (network sources)
//   connecting → failed               (the first open fails: an error, no retries)
//   live → reconnecting → live → …    (a live source drops or stalls, then comes back)
//   reconnecting → failed             (reconnection attempts exhausted)
// Reconnection happens only after a first successful connection; delays are 1, 2, 4, 8 … s up to
// `reconnectMaxDelay`, and attempts are counted per outage (`reconnectAttempts`, -1 = forever).

import CFFmpeg
import Foundation
import Synchronization
import VigilCore

/// Starts reading `source` and returns its sampled frames. Nothing happens until the sequence is iterated; iterate
/// it once. `onEvent` is called on the decode thread with each status or error event, in order.
public func frames(
    from source: String, options: IngestOptions = IngestOptions(),
    onEvent: (@Sendable (VigilEvent) -> Void)? = nil
) -> FrameStream {
    FrameStream(source: source, options: options, onEvent: onEvent)
}

/// The sampled frames of one source, with counters and a stop switch.
public final class FrameStream: AsyncSequence, Sendable {
    public typealias Element = SampledFrame
    public typealias Failure = any Error

    private let session: IngestSession

    /// Prepares to read `source` (see `frames(from:options:onEvent:)`).
    public init(source: String, options: IngestOptions = IngestOptions(), onEvent: (@Sendable (VigilEvent) -> Void)?) {
        session = IngestSession(source: MediaSource(source), options: options, onEvent: onEvent)
    }

    /// Counters so far (safe to read from any thread).
    public var counters: IngestCounters { session.counters }

    /// Stops reading: blocking FFmpeg calls return, the sequence ends. Safe from any thread, more than once.
    public func stop() { session.stop() }

    /// True once the decode thread has ended and sent its last event.
    public var isFinished: Bool { session.isFinished }

    /// Waits (up to `seconds`) until the decode thread has ended and sent its last event; true if it has.
    public func waitUntilFinished(upTo seconds: Double) async -> Bool {
        let end = FFmpeg.now() + seconds
        while !session.isFinished && FFmpeg.now() < end {
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return session.isFinished
    }

    /// Starts the decode thread on the first call.
    public func makeAsyncIterator() -> Iterator {
        session.start()
        return Iterator(handle: IteratorHandle(session: session))
    }

    /// Iterates sampled frames; dropping the last copy of the iterator stops the ingest.
    public struct Iterator: AsyncIteratorProtocol {
        let handle: IteratorHandle

        public mutating func next() async throws -> SampledFrame? {
            try await handle.session.channel.receive()
        }
    }
}

/// Stops the session when the consumer's iterator goes away (a `break` out of `for try await`).
final class IteratorHandle: Sendable {
    let session: IngestSession
    init(session: IngestSession) { self.session = session }
    deinit { session.stop() }
}

/// The decode thread and everything it shares with other threads.
final class IngestSession: Sendable {
    let source: MediaSource
    let options: IngestOptions
    let onEvent: (@Sendable (VigilEvent) -> Void)?
    let interrupt = InterruptState()
    let channel: FrameChannel<SampledFrame>
    let isLive: Bool
    private let state = Mutex(IngestCounters())
    private let started = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)

    init(source: MediaSource, options: IngestOptions, onEvent: (@Sendable (VigilEvent) -> Void)?) {
        self.source = source
        self.options = options
        self.onEvent = onEvent
        isLive = options.live ?? source.isLiveByDefault
        let dropsOldest = isLive || options.realtime
        let interrupt = self.interrupt
        channel = FrameChannel(capacity: options.queueCapacity, policy: dropsOldest ? .dropOldest : .wait) {
            interrupt.abort()
        }
    }

    var counters: IngestCounters {
        var counters = state.withLock { $0 }
        counters.dropped = channel.dropped
        return counters
    }

    /// The name in events.
    var name: String { options.sourceName ?? source.displayName }

    /// True once `run()` has returned.
    var isFinished: Bool { finished.load(ordering: .acquiring) }

    func start() {
        guard !started.exchange(true, ordering: .relaxed) else { return }
        let thread = Thread { [self] in
            run()
            finished.store(true, ordering: .releasing)
        }
        thread.name = "vigil-ingest"
        thread.stackSize = 8 << 20
        thread.start()
    }

    func stop() {
        interrupt.abort()
        channel.cancel()
    }

    private var shouldStop: Bool { interrupt.isAborted || channel.isCancelled }

    // MARK: - Events

    private func emit(_ state: SourceState, detail: String? = nil) {
        guard let onEvent else { return }
        let c = counters
        onEvent(
            .status(
                StatusEvent(
                    source: name, state: state, mediaTime: c.mediaTime, framesDecoded: c.decoded,
                    framesSampled: c.sampled, dropped: c.dropped, reconnects: c.reconnects, detail: detail)))
    }

    private func emitError(code: String, message: String, retryIn: Double?) {
        onEvent?(.error(source: name, code: code, message: message, retryIn: retryIn))
    }

    /// Ends the sequence with `error`, after reporting it.
    private func fail(_ error: MediaError) {
        emitError(code: error.code, message: error.description, retryIn: nil)
        emit(.failed, detail: error.code)
        channel.finish(throwing: error)
    }

    // MARK: - The decode thread

    /// How one connection (or the one pass over a file) ended.
    private enum SegmentEnd {
        /// The consumer left or `stop()` was called.
        case stopped
        /// Converting a frame failed.
        case failed(MediaError)
        /// Reading stopped; `cutShort` tells whether a file's index lists data past its end.
        case input(InputEnd, cutShort: Bool)
    }

    /// The ingest state that lives across connections.
    private struct Progress {
        var clock = MediaClock()
        var sampler: FrameSampler
        let converter = FrameConverter()
        var nextIndex = 0
        /// Drops already reported, and when (monotonic seconds).
        var reportedDrops = 0
        var reportedDropsAt = -Double.infinity
    }

    /// Drops are reported in a `live` status event at most this often (seconds).
    static let dropReportInterval = 5.0

    private func run() {
        let settings = OpenSettings(
            timeout: options.timeout, rtspTransport: options.rtspTransport, isLive: isLive,
            decoderThreads: options.decoderThreads)
        var progress = Progress(sampler: FrameSampler(fps: options.fps, start: options.startTime))
        var everConnected = false
        var attempt = 0
        // "connecting" is for network sources; a local file or a pipe is simply open ("live") or not.
        if source.isNetwork { emit(.connecting) }

        while true {
            if shouldStop { return finishStopped() }
            let end: SegmentEnd
            do throws(MediaError) {
                // Open (or re-open) the source; it is closed again when this scope ends, before any backoff wait.
                let input = try MediaInput(source: source, settings: settings, interrupt: interrupt)
                try input.openDecoder()
                if everConnected { state.withLock { $0.reconnects += 1 } }
                everConnected = true
                attempt = 0
                emit(.live)
                end = readSegment(input, progress: &progress)
            } catch {
                if shouldStop { return finishStopped() }
                guard everConnected && isLive else { return fail(error) }
                if options.reconnectAttempts >= 0 && attempt >= options.reconnectAttempts {
                    return fail(.reconnectFailed(source: name, attempts: attempt, lastReason: shortReason(error)))
                }
                attempt += 1
                let delay = options.reconnectDelay(attempt: attempt)
                emitError(code: error.code, message: error.description, retryIn: delay)
                if !pause(seconds: delay) { return finishStopped() }
                continue
            }

            // Why did reading stop?
            let firstDelay = options.reconnectDelay(attempt: 1)
            let reason: String
            switch end {
            case .stopped, .input(.aborted, _):
                return finishStopped()
            case .failed(let error):
                return fail(error)
            case .input(.endOfStream, let cutShort):
                guard isLive else {
                    let sofar = counters
                    if sofar.decoded == 0 && source.kind == .standardInput { return fail(pipeWithoutFrames) }
                    if sofar.decoded == 0 { return fail(.truncated(source: name, detail: "no frame decodes")) }
                    if cutShort {
                        let detail = "data ends after \(Self.seconds(sofar.mediaTime ?? 0)); the index lists more"
                        return fail(.truncated(source: name, detail: detail))
                    }
                    emit(.ended, detail: "end of stream")
                    channel.finish()
                    return
                }
                reason = "the server closed the stream"
                emitError(code: "disconnected", message: "'\(name)': \(reason).", retryIn: firstDelay)
            case .input(.stalled(let seconds), _):
                guard isLive else { return fail(.timedOut(source: name, seconds: options.timeout)) }
                state.withLock {
                    $0.stalls += 1
                    $0.lastStallSeconds = seconds
                }
                reason = "stalled: no data for \(Self.seconds(seconds))"
                let message = "'\(name)' \(reason) (timeout \(formatSeconds(options.timeout)))."
                emitError(code: "stalled", message: message, retryIn: firstDelay)
            case .input(.readError(let code), _):
                guard isLive else {
                    if counters.decoded == 0 && source.kind == .standardInput { return fail(pipeWithoutFrames) }
                    if code == cff_averror_invaliddata() || code == cff_averror(EIO) {
                        let detail = counters.mediaTime.map { "data ends after \(Self.seconds($0))" }
                        return fail(.truncated(source: name, detail: detail ?? "no frame decodes"))
                    }
                    return fail(.readFailed(source: name, reason: FFmpeg.errorText(code)))
                }
                reason = FFmpeg.errorText(code)
                emitError(code: "read_failed", message: "'\(name)': \(reason).", retryIn: firstDelay)
            }
            // A live source dropped: wait, then reconnect (the loop re-opens it).
            if options.reconnectAttempts == 0 {
                return fail(.reconnectFailed(source: name, attempts: 0, lastReason: reason))
            }
            attempt = 1
            emit(.reconnecting, detail: reason)
            if !pause(seconds: firstDelay) { return finishStopped() }
        }
    }

    /// Standard input ended before any frame: most likely an MP4 whose index is at its end.
    private var pipeWithoutFrames: MediaError {
        .readFailed(
            source: name,
            reason: "no video frame arrived; an MP4 on a pipe needs its index first (ffmpeg -movflags +faststart), "
                + "or pipe MPEG-TS or Matroska")
    }

    /// Decodes `input` to its end, sampling and handing frames to the channel.
    private func readSegment(_ input: MediaInput, progress: inout Progress) -> SegmentEnd {
        let (rotation, mirrored) = input.displayMatrix
        let orientation = Orientation(rotation: rotation, mirrored: mirrored)
        let timeBase = av_q2d(input.timeBase)
        let nominalInterval = Self.nominalInterval(input.stream)
        let stamped = isLive || options.realtime
        let paced = options.realtime && !isLive
        var paceOrigin: Double?
        progress.clock.beginSegment(timeBase: timeBase)

        while let frame = input.nextFrame() {
            let now = FFmpeg.now()
            let pts = frame.pointee.best_effort_timestamp
            let duration = frame.pointee.pkt_duration > 0 ? Double(frame.pointee.pkt_duration) * timeBase : nil
            let time = progress.clock.time(
                pts: pts == cff_nopts_value() ? nil : pts, wallClock: now,
                fallbackInterval: duration ?? nominalInterval)
            let reported = time + options.timeOffset
            state.withLock {
                $0.decoded += 1
                $0.mediaTime = reported
            }
            if paced {
                // Replay at the file's own pace: frame time t is shown t seconds after the first frame.
                guard time + FrameSampler.tolerance >= options.startTime else { continue }
                let origin = paceOrigin ?? (now - time)
                paceOrigin = origin
                if !pause(seconds: origin + time - FFmpeg.now()) { return .stopped }
            }
            guard progress.sampler.take(time) else { continue }
            let image: RGBImage
            do throws(MediaError) {
                image = try progress.converter.convert(
                    frame, orientation: orientation, output: options.size, source: name)
            } catch {
                return .failed(error)
            }
            let shown = orientation.displayed(width: Int(frame.pointee.width), height: Int(frame.pointee.height))
            let sample = SampledFrame(
                index: progress.nextIndex, time: MediaTime(seconds: reported), wallClock: stamped ? Date() : nil,
                image: image, segment: state.withLock { $0.reconnects }, sourceWidth: shown.width,
                sourceHeight: shown.height)
            progress.nextIndex += 1
            state.withLock { $0.sampled += 1 }
            if !channel.send(sample) { return .stopped }
            reportDrops(&progress)
        }
        let end = input.endReason ?? .endOfStream
        return .input(end, cutShort: end == .endOfStream && !isLive && input.isCutShort)
    }

    /// Emits a `live` status event with the drop count when frames were dropped since the last report (rate-limited).
    private func reportDrops(_ progress: inout Progress) {
        let dropped = channel.dropped
        let now = FFmpeg.now()
        guard dropped > progress.reportedDrops, now - progress.reportedDropsAt >= Self.dropReportInterval else { return }
        emit(.live, detail: "dropped \(dropped) frames so far: the consumer is behind")
        progress.reportedDrops = dropped
        progress.reportedDropsAt = now
    }

    private func finishStopped() {
        emit(.ended, detail: "stopped")
        channel.finish()
    }

    /// Sleeps up to `seconds`, waking early when stopped; false when stopped.
    private func pause(seconds: Double) -> Bool {
        let end = FFmpeg.now() + seconds
        while !shouldStop {
            let left = end - FFmpeg.now()
            if left <= 0 { return true }
            usleep(useconds_t(min(left, 0.05) * 1_000_000))
        }
        return false
    }

    private func shortReason(_ error: MediaError) -> String {
        switch error {
        case .timedOut: return "no answer within \(formatSeconds(options.timeout))"
        case .unreachable(_, let reason): return reason
        case .authenticationFailed(_, let status): return status
        default: return error.code
        }
    }

    /// "3.2 s".
    static func seconds(_ value: Double) -> String { formatSeconds((value * 10).rounded() / 10) }

    /// The interval implied by the stream's nominal rate; used only to place frames that carry no timestamp.
    static func nominalInterval(_ stream: UnsafeMutablePointer<AVStream>) -> Double? {
        for rate in [stream.pointee.avg_frame_rate, stream.pointee.r_frame_rate] where rate.num > 0 && rate.den > 0 {
            let fps = av_q2d(rate)
            if fps > 0 && fps < 1000 { return 1 / fps }
        }
        return nil
    }
}
