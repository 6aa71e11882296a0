// A live session on a real RTSP server on loopback (GStreamer): the server is killed and restarted mid-session; the
// session reports the reconnect as events, keeps running, starts the cacher afresh on the new connection, and goes
// on committing frames. A question asked now is answered while the stream runs.

import Foundation
import SmolVLM
import Streaming
import Testing
import TestSupport
import VigilCore

@Suite(.serialized, .holdingSerialLock) struct LiveRTSPTests {
    @Test func aReconnectIsAnEventNotACrash() async throws {
        let server = try RTSPTestServer(.live)
        defer { server.stop() }
        let model = try VisionLanguageModel.load(folder: Fixtures.url("smolvlm/tiny"), precision: .fp32)
        var configuration = SessionConfiguration()
        configuration.pruner.keep = 3
        configuration.retrievalMiB = 2
        configuration.maxAnswerTokens = 8
        configuration.statusInterval = 0.5
        let session = try LiveSession(model: model, source: server.url, configuration: configuration)
        let events = session.events.subscribe()
        let collected = EventLog()
        let collector = Task { for await e in events { collected.append(e.event) } }
        session.start()

        func waitUntil(_ what: String, _ condition: () -> Bool) async throws {
            let deadline = Date().addingTimeInterval(livenessBound)
            while !condition() {
                guard Date() < deadline else { throw FixtureError("timed out waiting for \(what)") }
                try await Task.sleep(nanoseconds: 50_000_000)
            }
        }
        try await waitUntil("frames") { session.status.engine.framesCommitted >= 3 }
        let referencesBefore = session.status.engine.referenceFrames
        server.kill()
        try await waitUntil("the reconnecting state") { collected.states.contains(.reconnecting) }
        try server.start()
        let committed = session.status.engine.framesCommitted
        try await waitUntil("frames after the reconnect") { session.status.engine.framesCommitted >= committed + 3 }
        #expect(session.status.engine.referenceFrames > referencesBefore, "the cacher started afresh")
        #expect(session.status.reconnects >= 1)

        var answer: AnswerEvent?
        for await update in session.ask("what do you see now?") { if case .finished(let a) = update { answer = a } }
        #expect(answer?.error == nil)
        #expect((answer?.askedAt ?? 0) > 0)

        let last = await session.stop()
        collector.cancel()
        #expect(last.state == .ended)
        #expect(collected.errorCodes.contains("disconnected"))
        #expect(collected.states.last(where: { $0 != .ended }) == .live)
    }
}

/// Events seen, thread-safe.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [VigilEvent] = []
    func append(_ e: VigilEvent) { lock.withLock { events.append(e) } }
    var states: [SourceState] {
        lock.withLock { events.compactMap { if case .status(let s) = $0, s.session == nil { return s.state } else { return nil } } }
    }
    var errorCodes: [String] {
        lock.withLock { events.compactMap { if case .error(_, let code, _, _) = $0 { return code } else { return nil } } }
    }
}
