// `HTTPServer.respond(to:)`: a request answered without a connection goes through the same checks and error
// responses as one over the network (the http-request fuzz target drives the server this way).

import Foundation
import Testing
import VigilCore

@testable import HTTPServer

@Suite struct InProcessTests {
    struct Body: Decodable { var name: String }

    static let server: HTTPServer = {
        var configuration = HTTPServerConfiguration()
        configuration.apiKey = "key"
        configuration.maxRequestBodyBytes = 64
        configuration.maxURLLength = 32
        configuration.maxHeaderBytes = 128
        var router = HTTPRouter()
        router.get("/health") { _ in .text("ok") }
        router.get("/items/{id}") { request in .text(request.pathParameters["id"] ?? "") }
        router.post("/items") { request in .text(try request.decodeJSON(Body.self).name) }
        router.get("/fail") { _ in throw CancellationError() }
        router.get("/broken") { _ in throw SomeError() }
        return HTTPServer(configuration: configuration, router: router)
    }()

    struct SomeError: Error {}

    static func status(
        _ method: HTTPMethod, _ path: String, headers: HTTPHeaders = ["Authorization": "Bearer key"], body: String = ""
    ) async -> (Int, String) {
        let response = await server.respond(
            to: HTTPRequest(method: method, path: path, headers: headers, body: Data(body.utf8)))
        return (response.status, String(decoding: response.body.data ?? Data(), as: UTF8.self))
    }

    @Test("routes, parameters and the API key")
    func routing() async {
        #expect(await Self.status(.get, "/health", headers: [:]) == (200, "ok"))
        #expect(await Self.status(.get, "/items/a1") == (200, "a1"))
        #expect(await Self.status(.get, "/items/a1", headers: [:]).0 == 401)
        #expect(await Self.status(.get, "/items/a1", headers: ["Authorization": "Bearer nope"]).0 == 401)
        #expect(await Self.status(.delete, "/items/a1").0 == 405)
        #expect(await Self.status(.get, "/nothing").0 == 404)
        #expect(await Self.status(.post, "/items", body: #"{"name":"x"}"#) == (200, "x"))
    }

    @Test("limits and handler errors answer as over the network")
    func limitsAndErrors() async {
        #expect(await Self.status(.post, "/items", body: #"{"name":""# + String(repeating: "x", count: 80) + "\"}").0 == 413)
        #expect(await Self.status(.post, "/items", headers: ["Authorization": "Bearer key", "Content-Length": "9999"]).0 == 413)
        #expect(await Self.status(.post, "/items", headers: ["Authorization": "Bearer key", "Content-Length": "-5"]).0 == 400)
        #expect(await Self.status(.get, "/items/" + String(repeating: "y", count: 40)).0 == 414)
        #expect(await Self.status(.get, "/health", headers: ["X-Big": String(repeating: "z", count: 200)]).0 == 431)
        #expect(await Self.status(.post, "/items", body: "[[[[").0 == 400)
        #expect(await Self.status(.get, "/fail").0 == 503)
        #expect(await Self.status(.get, "/broken").0 == 500)
    }
}
