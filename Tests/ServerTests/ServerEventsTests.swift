// A source's events over Server-Sent Events: a comment at once, then `event:`/`id:`/`data:` per event; a client that
// reconnects with Last-Event-ID gets every event it missed, in order, none twice, from the session's event buffer;
// a client that hangs up releases its stream and its subscription (seen at the next write or heartbeat), and so does
// a client that leaves in the middle of a streamed answer.

import Foundation
@testable import Server
import Streaming
import TestSupport
import Testing

@Suite(.serialized, .holdingSerialLock) struct ServerEventsTests {
    /// A server with `live`: the 60 s clip replayed in real time (status events every 0.5 s).
    func serverWithLiveSource() async throws -> VigilServer {
        let server = try await ServerFixtures.start()
        let created = try await Curl.post(
            server.base + "/v1/sources",
            json: #"{"url":"\#(ServerFixtures.clip("long.mkv"))","name":"live","realtime":true,"#
                + #""options":{"captions":"off","feature-memory":"off"}}"#)
        try #require(created.status == 201, "\(created.body)")
        return server
    }

    @Test func aReconnectWithLastEventIDMissesNothing() async throws {
        let server = try await serverWithLiveSource()
        defer { Task { await server.stop() } }
        let hub = try #require(server.session("live")).events
        let url = server.base + "/v1/sources/live/events"

        let first = try CurlProcess([url])
        #expect(await first.waitForOutput { $0.hasPrefix("HTTP/1.1 200") && $0.contains("\r\n\r\n: ok\n") })
        #expect(await first.waitForOutput { eventIDs(in: $0).count >= 3 })
        first.kill()
        _ = await first.wait()
        let seen = eventIDs(in: first.output())
        let last = try #require(seen.last)
        #expect(seen == Array(seen[0]...last), "ids in order, none skipped")
        #expect(first.output().contains("event: status\n"))

        // Events published while nobody listens are kept for the reconnect.
        #expect(await eventually { hub.nextID > last + 3 })
        let publishedWhileAway = hub.nextID - 1 - last
        let second = try CurlProcess(["-H", "Last-Event-ID: \(last)", url])
        #expect(await second.waitForOutput { eventIDs(in: $0).count >= publishedWhileAway + 1 })
        second.kill()
        _ = await second.wait()
        let resumed = eventIDs(in: second.output())
        #expect(resumed.first == last + 1)
        #expect(resumed == Array((last + 1)...(resumed.last ?? last + 1)), "every missed event once, in order")

        // The same with ?after= (for clients that cannot set headers), filtered to one type.
        let third = try CurlProcess([url + "?after=\(last)&types=status"])
        #expect(await third.waitForOutput { eventIDs(in: $0).count >= 2 })
        third.kill()
        #expect(eventIDs(in: third.output()).first == last + 1)

        // An id from before a restart (above the newest) replays what is kept, with a note.
        let future = try CurlProcess(["-H", "Last-Event-ID: 999999", url])
        #expect(await future.waitForOutput { $0.contains("from an earlier run") && eventIDs(in: $0).first == 1 })
        future.kill()
    }

    @Test func aClientThatHangsUpReleasesItsStream() async throws {
        let server = try await serverWithLiveSource()
        defer { Task { await server.stop() } }
        let hub = try #require(server.session("live")).events
        let before = hub.subscriberCount
        let client = try CurlProcess([server.base + "/v1/sources/live/events"])
        #expect(await client.waitForOutput { $0.contains(": ok\n") })
        #expect(await eventually { server.activeStreamCount == 1 && hub.subscriberCount == before + 1 })
        client.kill()
        #expect(await eventually { server.activeStreamCount == 0 && hub.subscriberCount == before })

        // Leaving in the middle of a streamed answer: the stream goes, the question's slot is freed once the
        // session has finished the answer.
        let source = try #require(server.service.registry.source("live"))
        let asker = try CurlProcess([
            "-X", "POST", "-H", "Content-Type: application/json", "--data-binary",
            #"{"model":"stream:live","stream":true,"max_tokens":8,"messages":[{"role":"user","content":"What moves?"}]}"#,
            server.base + "/v1/chat/completions",
        ])
        #expect(await asker.waitForOutput { $0.contains("data: ") })
        asker.kill()
        #expect(await eventually { server.activeStreamCount == 0 && source.gate.count == 0 })
        #expect(await eventually { hub.subscriberCount == before })
    }

    @Test func removingASourceEndsItsStreams() async throws {
        let server = try await serverWithLiveSource()
        defer { Task { await server.stop() } }
        let client = try CurlProcess([server.base + "/v1/sources/live/events"])
        #expect(await client.waitForOutput { eventIDs(in: $0).count >= 1 })
        #expect(try await Curl.run(server.base + "/v1/sources/live", ["-X", "DELETE"]).status == 200)
        #expect(await client.wait() == 0, "the stream ended cleanly")
        #expect(await eventually { server.activeStreamCount == 0 })
    }
}
