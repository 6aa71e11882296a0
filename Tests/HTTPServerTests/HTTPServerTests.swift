// The server end to end on loopback, through curl: JSON routes, the JSON errors (404, 405, 401, 413, 414, 431, 400),
// malformed requests, Server-Sent Events (order, ids, Last-Event-ID, heartbeats, a client that hangs up, a client
// that never reads, the stream cap), static files and stopping with streams open. Each test starts its own server
// on a free port and stops it.

import Foundation
import HTTPServer
import Synchronization
import TestSupport
import Testing
import VigilCore

/// What handlers saw, for assertions.
final class Recorder: Sendable {
    private let state = Mutex<[String]>([])

    func note(_ entry: String) { state.withLock { $0.append(entry) } }
    var entries: [String] { state.withLock { $0 } }
    func contains(_ entry: String) -> Bool { entries.contains(entry) }
}

/// A server with `configure` applied to a test configuration (short heartbeat) and `routes`.
func startServer(
    _ configure: (inout HTTPServerConfiguration) -> Void = { _ in }, routes: (inout HTTPRouter) -> Void
) throws -> HTTPServer {
    var configuration = HTTPServerConfiguration()
    configuration.heartbeatInterval = .milliseconds(200)
    configure(&configuration)
    var router = HTTPRouter()
    routes(&router)
    let server = HTTPServer(configuration: configuration, router: router)
    try server.start()
    return server
}

/// A stream that sends events `first...last` with ids, then stays open (heartbeats only) until it is cancelled.
func countingStream(_ request: HTTPRequest, recorder: Recorder, count: Int = 3) -> HTTPResponse {
    recorder.note("last-event-id=\(request.lastEventID ?? "none")")
    let start = (Int(request.lastEventID ?? "") ?? 0) + 1
    return .eventStream { writer in
        writer.onTermination { recorder.note("terminated:\($0)") }
        for n in start..<(start + count) {
            try writer.send(event: "tick", id: String(n), data: "{\"n\":\(n)}")
        }
        do {
            while true { try await Task.sleep(for: .seconds(3600)) }
        } catch {
            recorder.note("cancelled")
            throw error
        }
    }
}

@Suite(.serialized, .holdingSerialLock) struct HTTPServerTests {
    @Test func jsonRouteAndHead() async throws {
        let server = try startServer { router in
            router.get("/health") { _ in .json(.object([("status", .string("ok"))])) }
            router.get("/v1/sources/{id}") { request in
                .json(
                    .object([
                        ("id", .string(request.pathParameters["id"] ?? "")), ("q", .string(request.query["q"] ?? "")),
                    ]))
            }
        }
        defer { server.stop() }
        #expect(server.port != 0)
        let health = try await Curl.get(server.port, "/health")
        #expect(health.status == 200)
        #expect(health.headers["content-type"] == "application/json")
        #expect(health.body == "{\"status\":\"ok\"}")
        let source = try await Curl.get(server.port, "/v1/sources/cam%201?q=a%26b")
        #expect(source.body == "{\"id\":\"cam 1\",\"q\":\"a&b\"}")
        let head = try await Curl.get(server.port, "/health", ["-I"])
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(head.headers["Content-Length"] == "15")
    }

    @Test func manyRequestsOverKeepAliveAndInParallel() async throws {
        let server = try startServer { router in
            router.get("/n/{i}") { request in
                await Task.yield()
                return .text("<\(request.pathParameters["i"] ?? "")>")
            }
        }
        defer { server.stop() }
        let urls = (0..<300).map { "http://127.0.0.1:\(server.port)/n/\($0)" }
        // One curl, one connection reused for every request (keep-alive), then 16 connections at once.
        let sequential = try await Curl.run(urls)
        #expect(sequential.exitCode == 0)
        let parallel = try await Curl.run(["--parallel", "--parallel-max", "16"] + urls)
        #expect(parallel.exitCode == 0)
        for result in [sequential, parallel] {
            #expect(result.status == 200)
            for i in 0..<300 { #expect(result.body.contains("<\(i)>"), "request \(i)") }
        }
    }

    @Test func notFoundAndMethodNotAllowedAreJSON() async throws {
        let server = try startServer { router in
            router.get("/v1/models") { _ in .json(.object([])) }
            router.delete("/v1/models") { _ in .json(.object([])) }
        }
        defer { server.stop() }
        let missing = try await Curl.get(server.port, "/nope")
        #expect(missing.status == 404 && missing.errorCode == "not_found")
        #expect(missing.headers["Content-Type"] == "application/json")
        let wrongMethod = try await Curl.get(server.port, "/v1/models", ["-X", "POST"])
        #expect(wrongMethod.status == 405 && wrongMethod.errorCode == "method_not_allowed")
        #expect(wrongMethod.headers["Allow"] == "GET, HEAD, DELETE")
    }

    @Test func apiKeyIsRequiredOutsidePublicPaths() async throws {
        let server = try startServer({ $0.apiKey = "s3cret-key" }) { router in
            router.get("/health") { _ in .text("ok") }
            router.get("/v1/models") { _ in .text("models") }
        }
        defer { server.stop() }
        let none = try await Curl.get(server.port, "/v1/models")
        #expect(none.status == 401 && none.errorCode == "unauthorized")
        #expect(none.headers["WWW-Authenticate"] == "Bearer")
        let wrong = try await Curl.get(server.port, "/v1/models", ["-H", "Authorization: Bearer s3cret-kez"])
        #expect(wrong.status == 401)
        let basic = try await Curl.get(server.port, "/v1/models", ["-H", "Authorization: Basic czNjcmV0LWtleQ=="])
        #expect(basic.status == 401)
        let right = try await Curl.get(server.port, "/v1/models", ["-H", "Authorization: Bearer s3cret-key"])
        #expect(right.status == 200 && right.body == "models")
        let lowercase = try await Curl.get(server.port, "/v1/models", ["-H", "authorization: bearer s3cret-key"])
        #expect(lowercase.status == 200)
        let health = try await Curl.get(server.port, "/health")
        #expect(health.status == 200)
        // An unknown path is still 401 without the key: routes are not revealed.
        #expect(try await Curl.get(server.port, "/secret").status == 401)
    }

    @Test func limitsGiveClientErrors() async throws {
        let server = try startServer({
            $0.maxRequestBodyBytes = 1 << 20
            $0.maxURLLength = 2048
            $0.maxHeaderBytes = 4096
        }) { router in
            router.post("/echo") { request in .bytes(request.body, contentType: "application/octet-stream") }
            router.get("/echo") { _ in .text("ok") }
        }
        defer { server.stop() }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("http-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let small = directory.appendingPathComponent("small")
        try Data(repeating: 7, count: 1000).write(to: small)
        let big = directory.appendingPathComponent("big")
        try Data(repeating: 7, count: 2 << 20).write(to: big)

        let echoed = try await Curl.get(server.port, "/echo", ["--data-binary", "@\(small.path)"])
        #expect(echoed.status == 200 && echoed.body.utf8.count == 1000)
        let tooBig = try await Curl.get(server.port, "/echo", ["--data-binary", "@\(big.path)"])
        #expect(tooBig.status == 413 && tooBig.errorCode == "payload_too_large")

        let longQuery = String(repeating: "a", count: 4000)
        let longURL = try await Curl.get(server.port, "/echo?x=\(longQuery)")
        #expect(longURL.status == 414 && longURL.errorCode == "uri_too_long")
        let hugeURL = try await Curl.get(server.port, "/echo?x=" + String(repeating: "a", count: 100_000))
        #expect((400..<500).contains(hugeURL.status), "MHD's own limit: \(hugeURL.status)")

        let bigHeader = try await Curl.get(
            server.port, "/echo", ["-H", "X-Big: " + String(repeating: "b", count: 5000)])
        #expect(bigHeader.status == 431 && bigHeader.errorCode == "headers_too_large")
        let hugeHeader = try await Curl.get(
            server.port, "/echo", ["-H", "X-Big: " + String(repeating: "b", count: 100_000)])
        #expect((400..<500).contains(hugeHeader.status), "MHD's own limit: \(hugeHeader.status)")

        // Still serving after all that.
        #expect(try await Curl.get(server.port, "/echo").status == 200)
    }

    @Test func malformedJSONAndRequestsAreClientErrors() async throws {
        struct Body: Decodable { var name: String; var count: Int }
        let server = try startServer { router in
            router.post("/things") { request in
                let body = try request.decodeJSON(Body.self, maxDepth: 8)
                return .json(.object([("name", .string(body.name)), ("count", .int(body.count))]))
            }
            router.get("/boom") { _ in
                struct Secret: Error, CustomStringConvertible { var description: String { "/srv/secret/path failed" } }
                throw Secret()
            }
        }
        defer { server.stop() }
        func post(_ body: String) async throws -> CurlResult {
            try await Curl.get(server.port, "/things", ["-H", "Content-Type: application/json", "--data-binary", body])
        }
        let good = try await post("{\"name\":\"a\",\"count\":2}")
        #expect(good.status == 200 && good.body == "{\"name\":\"a\",\"count\":2}")
        let broken = try await post("{\"name\":")
        #expect(broken.status == 400 && broken.errorCode == "bad_request")
        let missing = try await post("{\"name\":\"a\"}")
        #expect(missing.status == 400 && missing.body.contains("count"))
        let wrongType = try await post("{\"name\":\"a\",\"count\":\"two\"}")
        #expect(wrongType.status == 400 && wrongType.body.contains("count") && wrongType.body.contains("number"))
        let deep = try await post(String(repeating: "[", count: 50) + String(repeating: "]", count: 50))
        #expect(deep.status == 400 && deep.body.contains("deeper"))
        let empty = try await Curl.get(server.port, "/things", ["-X", "POST"])
        #expect(empty.status == 400)

        let failure = try await Curl.get(server.port, "/boom")
        #expect(failure.status == 500 && failure.errorCode == "internal")
        #expect(!failure.body.contains("/srv"))

        // Requests curl would not send: MHD answers them (or, for a line that is not HTTP at all, closes).
        let malformed = [
            ("GET /things HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", "HTTP/1.1 400"),
            ("POST /things HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "HTTP/1.1 400"),
            ("POST /things HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n", "HTTP/1.1 400"),
            ("GET /things HTTP/9.9\r\nHost: x\r\n\r\n", "HTTP/1.1 505"),
            ("GARBAGE\r\n\r\n", ""),
        ]
        for (request, expected) in malformed {
            let connection = try RawConnection(port: server.port)
            connection.send(request)
            let answer = await connection.readAll()
            #expect(answer.hasPrefix(expected), "\(request.debugDescription) -> \(answer.prefix(40).debugDescription)")
        }
        #expect(try await Curl.get(server.port, "/nope").status == 404)
    }

    @Test func serverSentEventsArriveInOrderAndHangUpReleasesTheStream() async throws {
        let recorder = Recorder()
        let server = try startServer { router in
            router.get("/v1/sources/{id}/events") { request in
                recorder.note("source=\(request.pathParameters["id"] ?? "")")
                return countingStream(request, recorder: recorder)
            }
        }
        defer { server.stop() }
        let curl = try CurlProcess([
            "-N", "-H", "Last-Event-ID: 41", "http://127.0.0.1:\(server.port)/v1/sources/cam1/events",
        ])
        #expect(await curl.waitForOutput { $0.contains("id: 43") })
        let result = Curl.parse(curl.output(), exitCode: 0)
        #expect(result.status == 200)
        #expect(result.headers["Content-Type"] == "text/event-stream")
        #expect(result.body.hasPrefix(": ok\n\n"))
        #expect(
            result.body.contains(
                "event: tick\nid: 42\ndata: {\"n\":42}\n\nevent: tick\nid: 43\ndata: {\"n\":43}\n\n"))
        #expect(recorder.contains("last-event-id=41") && recorder.contains("source=cam1"))
        #expect(server.activeStreamCount == 1)
        // Heartbeats keep flowing while the producer has nothing to say.
        #expect(await curl.waitForOutput { $0.contains(": ping\n\n") })

        curl.kill()
        #expect(await eventually { server.activeStreamCount == 0 })
        #expect(await eventually { recorder.contains("cancelled") })
        #expect(await eventually { recorder.contains("terminated:clientDisconnected") })
    }

    @Test func finishedStreamEndsTheResponse() async throws {
        let recorder = Recorder()
        let server = try startServer { router in
            router.get("/words") { _ in
                .eventStream { writer in
                    writer.onTermination { recorder.note("terminated:\($0)") }
                    for word in ["one", "two\nlines", "three"] { try writer.send(data: word) }
                    try writer.comment("done")
                }
            }
            router.get("/chunks") { _ in
                .stream(contentType: "text/plain") { writer in
                    for i in 0..<100 { try writer.write("line \(i)\n") }
                }
            }
        }
        defer { server.stop() }
        let words = try await Curl.get(server.port, "/words")
        #expect(words.status == 200 && words.exitCode == 0)
        #expect(words.body == ": ok\n\ndata: one\n\ndata: two\ndata: lines\n\ndata: three\n\n: done\n\n")
        #expect(await eventually { recorder.contains("terminated:finished") })
        let chunks = try await Curl.get(server.port, "/chunks")
        #expect(chunks.headers["Transfer-Encoding"] == "chunked")
        #expect(chunks.body == (0..<100).map { "line \($0)\n" }.joined())
        #expect(await eventually { server.activeStreamCount == 0 })
    }

    @Test func streamCapAnswers429WithRetryAfter() async throws {
        let recorder = Recorder()
        let server = try startServer({
            $0.maxStreams = 1
            $0.retryAfterSeconds = 7
        }) { router in
            router.get("/events") { request in countingStream(request, recorder: recorder) }
        }
        defer { server.stop() }
        let first = try CurlProcess(["-N", "http://127.0.0.1:\(server.port)/events"])
        #expect(await first.waitForOutput { $0.contains("id: 3") })
        let second = try await Curl.get(server.port, "/events")
        #expect(second.status == 429 && second.errorCode == "too_many_requests")
        #expect(second.headers["Retry-After"] == "7")
        #expect(server.activeStreamCount == 1)
        first.kill()
        #expect(await eventually { server.activeStreamCount == 0 })
        let third = try CurlProcess(["-N", "http://127.0.0.1:\(server.port)/events"])
        #expect(await third.waitForOutput { $0.contains("id: 3") })
        third.kill()
        #expect(await eventually { server.activeStreamCount == 0 })
    }

    @Test func clientThatNeverReadsIsDisconnected() async throws {
        let recorder = Recorder()
        let server = try startServer({ $0.streamBufferBytes = 64 << 10 }) { router in
            router.get("/flood") { _ in
                .eventStream { writer in
                    writer.onTermination { recorder.note("terminated:\($0)") }
                    let line = String(repeating: "x", count: 16 << 10)
                    do {
                        // Far more than the kernel's socket buffers; the cap must stop it long before.
                        for _ in 0..<16_384 {
                            try writer.send(data: line)
                            await Task.yield()
                        }
                        recorder.note("sent everything")
                    } catch let error as HTTPStreamError {
                        recorder.note("write failed:\(error.reason)")
                    }
                }
            }
        }
        defer { server.stop() }
        let client = try RawConnection(port: server.port)
        client.send("GET /flood HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(await eventually { recorder.contains("write failed:slowClient") })
        #expect(!recorder.contains("sent everything"))
        #expect(await eventually { recorder.contains("terminated:slowClient") })
        #expect(await eventually { server.activeStreamCount == 0 })
    }

    @Test func staticFilesWithoutTraversal() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("static-\(UUID().uuidString)")
        let root = base.appendingPathComponent("www")
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        let files = [
            "index.html": "<h1>vigil</h1>", "app.js": "console.log(1)", "style.css": "body{}", "logo.svg": "<svg/>",
            "data.json": "{}", "sub/index.html": "sub", ".hidden": "no",
        ]
        for (name, text) in files { try Data(text.utf8).write(to: root.appendingPathComponent(name)) }
        try Data([0x89, 0x50, 0x4e, 0x47]).write(to: root.appendingPathComponent("pixel.png"))
        try Data("secret".utf8).write(to: base.appendingPathComponent("secret.txt"))
        try FileManager.default.createSymbolicLink(
            at: root.appendingPathComponent("link.txt"), withDestinationURL: base.appendingPathComponent("secret.txt"))

        let site = StaticFiles(directory: root)
        let server = try startServer { router in router.get("/ui/*", site.handler) }
        defer { server.stop() }
        let expectations: [(String, String, String)] = [
            ("/ui/", "text/html; charset=utf-8", "<h1>vigil</h1>"),
            ("/ui/app.js", "text/javascript; charset=utf-8", "console.log(1)"),
            ("/ui/style.css", "text/css; charset=utf-8", "body{}"),
            ("/ui/logo.svg", "image/svg+xml", "<svg/>"),
            ("/ui/data.json", "application/json", "{}"),
            ("/ui/sub", "text/html; charset=utf-8", "sub"),
        ]
        for (path, type, body) in expectations {
            let result = try await Curl.get(server.port, path)
            #expect(result.status == 200 && result.headers["Content-Type"] == type && result.body == body, "\(path)")
        }
        let png = try await Curl.get(server.port, "/ui/pixel.png")
        #expect(png.headers["Content-Type"] == "image/png" && png.headers["Content-Length"] == "4")
        for path in [
            "/ui/../secret.txt", "/ui/%2e%2e/secret.txt", "/ui/sub/../../secret.txt", "/ui/link.txt",
            "/ui/.hidden", "/ui/missing.js", "/ui/..%2fsecret.txt",
        ] {
            let result = try await Curl.get(server.port, path, ["--path-as-is"])
            #expect(result.status == 404 && !result.body.contains("secret\""), "\(path)")
            #expect(!result.body.contains(base.path), "\(path)")
        }
    }

    @Test func stopWithStreamsAndHandlersInFlight() async throws {
        let recorder = Recorder()
        let server = try startServer { router in
            router.get("/events") { request in countingStream(request, recorder: recorder) }
            router.get("/slow") { _ in
                recorder.note("slow started")
                try await Task.sleep(for: .seconds(3600))
                return .text("late")
            }
        }
        let streams = try (0..<2).map { _ in try CurlProcess(["-N", "http://127.0.0.1:\(server.port)/events"]) }
        for stream in streams { #expect(await stream.waitForOutput { $0.contains("id: 3") }) }
        let slow = try CurlProcess(["http://127.0.0.1:\(server.port)/slow"])
        #expect(await eventually { recorder.contains("slow started") })
        #expect(server.activeStreamCount == 2)

        server.stop()
        #expect(!server.isRunning)
        #expect(server.activeStreamCount == 0)
        #expect(await eventually { recorder.entries.filter { $0 == "terminated:serverStopped" }.count == 2 })
        #expect(await eventually { recorder.entries.filter { $0 == "cancelled" }.count == 2 })
        for client in streams + [slow] { #expect(await eventually { client.hasExited }) }
        server.stop()  // idempotent
        await server.waitUntilStopped()
        // The port is free again.
        let refused = try await Curl.get(server.port, "/events")
        #expect(refused.exitCode != 0)
    }

    @Test func startFailsReadablyWhenThePortIsTaken() async throws {
        let first = try startServer { router in router.get("/health") { _ in .text("ok") } }
        defer { first.stop() }
        var configuration = HTTPServerConfiguration()
        configuration.port = first.port
        let second = HTTPServer(configuration: configuration, router: HTTPRouter())
        #expect(throws: HTTPServerError.self) { try second.start() }
        do {
            try second.start()
        } catch {
            #expect(error.description.contains("127.0.0.1:\(first.port)") && error.description.contains("in use"))
        }
    }
}
