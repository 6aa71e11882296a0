// RTSP against a real GStreamer RTSP server on 127.0.0.1 (scripts/rtsp-test-server.py) on a free port: frames flow
// over TCP (and UDP); the server killed mid-stream and restarted → reconnecting, frames resume, media time keeps
// increasing; the server frozen (SIGSTOP) → a stall within twice the timeout; refused, silent and password-protected
// servers → their errors. Every test holds the global serial lock (ports, timing).

import Foundation
import MediaIngest
import Synchronization
import TestSupport
import Testing
import VigilCore

/// Consumes a frame stream in the background, keeping what arrives.
final class FrameCollector: Sendable {
    let stream: FrameStream
    let log = EventLog()
    private let received = Mutex<[SampledFrame]>([])
    private let ending = Mutex<(done: Bool, error: MediaError?)>((false, nil))

    init(_ source: String, options: IngestOptions) {
        let log = self.log
        stream = MediaIngest.frames(from: source, options: options, onEvent: log.record)
        Task.detached { [self] in
            do {
                for try await frame in stream { received.withLock { $0.append(frame) } }
                ending.withLock { $0 = (true, nil) }
            } catch {
                ending.withLock { $0 = (true, error as? MediaError) }
            }
        }
    }

    var frames: [SampledFrame] { received.withLock { $0 } }
    var isDone: Bool { ending.withLock { $0.done } }
    var error: MediaError? { ending.withLock { $0.error } }

    /// Waits until `condition` holds, up to `seconds`.
    func wait(upTo seconds: Double, until condition: (FrameCollector) -> Bool) async -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition(self) { return true }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return condition(self)
    }

    /// Stops the stream and waits for the consumer to finish and the decode thread to report its last state.
    func finish() async {
        stream.stop()
        _ = await wait(upTo: livenessBound) { $0.isDone }
        _ = await log.wait(upTo: livenessBound) { [.ended, .failed].contains($0.states.last) }
    }
}

@Suite struct RTSPIngestTests {
    static func options(timeout: Double = 2, fps: Double = 5, transport: RTSPTransport = .tcp) -> IngestOptions {
        IngestOptions(fps: fps, timeout: timeout, reconnectMaxDelay: 2, rtspTransport: transport)
    }

    static func strictlyIncreasing(_ frames: [SampledFrame]) -> Bool {
        zip(frames, frames.dropFirst()).allSatisfy { $0.time < $1.time && $0.index + 1 == $1.index }
    }
}

extension RTSPIngestTests {
    @Test(arguments: [RTSPTransport.tcp, .udp])
    func framesFlow(transport: RTSPTransport) async throws {
        try await TestSerialLock.run {
            let server = try RTSPTestServer(.live)
            defer { server.stop() }
            let collector = FrameCollector(server.url, options: Self.options(transport: transport))
            #expect(await collector.wait(upTo: livenessBound) { $0.frames.count >= 8 })
            await collector.finish()
            let frames = collector.frames
            #expect(frames.first?.time == .zero)
            #expect(Self.strictlyIncreasing(frames))
            #expect(frames.allSatisfy { $0.wallClock != nil && $0.image.width == 320 && $0.image.height == 240 })
            #expect(Array(collector.log.states.prefix(2)) == [.connecting, .live])
            #expect(collector.error == nil)
        }
    }

    @Test func killedAndRestartedServerResumesWithIncreasingTime() async throws {
        try await TestSerialLock.run {
            let server = try RTSPTestServer(.live)
            defer { server.stop() }
            let collector = FrameCollector(server.url, options: Self.options())
            #expect(await collector.wait(upTo: livenessBound) { $0.frames.count >= 5 })
            server.kill()
            #expect(await collector.log.wait(upTo: livenessBound) { $0.states.contains(.reconnecting) })
            let before = collector.frames.count
            try server.start()
            #expect(await collector.wait(upTo: livenessBound) { $0.frames.count >= before + 5 })
            await collector.finish()

            let frames = collector.frames
            #expect(Self.strictlyIncreasing(frames))
            let states = collector.log.states
            let firstReconnect = try #require(states.firstIndex(of: .reconnecting))
            #expect(Array(states.prefix(2)) == [.connecting, .live])
            #expect(states[firstReconnect...].contains(.live), "events: \(states)")
            #expect(states.last == .ended)
            #expect(collector.log.errorCodes.contains("disconnected"))
            #expect(collector.stream.counters.reconnects >= 1)
        }
    }

    @Test func frozenServerIsAStallWithinTwiceTheTimeout() async throws {
        try await TestSerialLock.run {
            let server = try RTSPTestServer(.live)
            defer { server.stop() }
            let timeout = 1.5
            let collector = FrameCollector(server.url, options: Self.options(timeout: timeout))
            #expect(await collector.wait(upTo: livenessBound) { $0.frames.count >= 3 })
            server.freeze()
            #expect(await collector.log.wait(upTo: livenessBound) { $0.errorCodes.contains("stalled") })
            let silence = try #require(collector.stream.counters.lastStallSeconds)
            #expect(silence < 2 * timeout, "stall reported after \(silence) s of silence")
            let before = collector.frames.count
            server.thaw()
            #expect(await collector.wait(upTo: livenessBound) { $0.frames.count >= before + 3 })
            await collector.finish()
            #expect(Self.strictlyIncreasing(collector.frames))
            let states = collector.log.states
            #expect(states.contains(.reconnecting))
            #expect(collector.stream.counters.stalls >= 1)
        }
    }

    @Test func reconnectionGivesUpAfterTheAttemptsAllowed() async throws {
        try await TestSerialLock.run {
            let server = try RTSPTestServer(.live)
            var options = Self.options()
            options.reconnectAttempts = 2
            let collector = FrameCollector(server.url, options: options)
            #expect(await collector.wait(upTo: livenessBound) { $0.frames.count >= 2 })
            server.kill()
            #expect(await collector.wait(upTo: livenessBound) { $0.isDone })
            guard case .reconnectFailed(_, let attempts, _)? = collector.error else {
                Issue.record("expected reconnectFailed, got \(String(describing: collector.error))")
                return
            }
            #expect(attempts == 2)
            #expect(collector.log.states.last == .failed)
        }
    }

    @Test func refusedFirstConnectionIsAnErrorWithoutRetries() async throws {
        try await TestSerialLock.run {
            let url = "rtsp://127.0.0.1:\(try freeTCPPort())/test"
            let collector = FrameCollector(url, options: Self.options())
            #expect(await collector.wait(upTo: livenessBound) { $0.isDone })
            guard case .unreachable(let source, _)? = collector.error else {
                Issue.record("expected unreachable, got \(String(describing: collector.error))")
                return
            }
            #expect(source == url)
            #expect(collector.log.states == [.connecting, .failed])
            #expect(throws: MediaError.self) { try probe(url) }
        }
    }

    @Test func silentServerTimesOut() async throws {
        try await TestSerialLock.run {
            let listener = try SilentTCPListener()
            let url = "rtsp://127.0.0.1:\(listener.port)/test"
            let collector = FrameCollector(url, options: Self.options(timeout: 1))
            #expect(await collector.wait(upTo: livenessBound) { $0.isDone })
            #expect(collector.error == .timedOut(source: url, seconds: 1))
            #expect(throws: MediaError.timedOut(source: url, seconds: 1)) {
                try probe(url, options: IngestOptions(timeout: 1))
            }
        }
    }

    @Test func wrongCredentialsAreAnAuthenticationFailure() async throws {
        try await TestSerialLock.run {
            let server = try RTSPTestServer(.live, auth: "viewer:s3cret")
            defer { server.stop() }
            let wrong = "rtsp://viewer:nope@127.0.0.1:\(server.port)/test"
            #expect {
                try probe(wrong, options: IngestOptions(timeout: 3))
            } throws: { error in
                guard case MediaError.authenticationFailed(let source, _) = error else { return false }
                return source == "rtsp://viewer:***@127.0.0.1:\(server.port)/test"
            }
            let right = "rtsp://viewer:s3cret@127.0.0.1:\(server.port)/test"
            let collector = FrameCollector(right, options: Self.options())
            #expect(await collector.wait(upTo: livenessBound) { $0.frames.count >= 2 })
            await collector.finish()
        }
    }
}
