// HTTP health server (test-only executable) for scripts/benchmarks/http-health and manual checks: serves
// `GET /health` (a fixed JSON object, through the whole handler path: suspend, Swift task, resume) plus a few
// routes to poke at by hand, prints `port <n>` once listening, and stops on SIGINT or SIGTERM.
//
// Usage: HTTPHealthServer [--port N] [--threads N]

import Foundation
import HTTPServer
import VigilCore

var configuration = HTTPServerConfiguration()
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--port": configuration.port = UInt16(arguments.popFirst() ?? "") ?? 0
    case "--threads": configuration.threadPoolSize = Int(arguments.popFirst() ?? "") ?? 2
    default:
        Console.errLine("usage: HTTPHealthServer [--port N] [--threads N]")
        exit(64)
    }
}

var router = HTTPRouter()
let health = JSONValue.object([("status", .string("ok"))])
router.get("/health") { _ in .json(health) }
router.get("/events") { request in
    .eventStream { writer in
        var n = Int(request.lastEventID ?? "") ?? 0
        while !Task.isCancelled {
            n += 1
            try writer.send(event: "tick", id: String(n), data: "{\"n\":\(n)}")
            try await Task.sleep(for: .seconds(1))
        }
    }
}
router.post("/echo") { request in
    .bytes(request.body, contentType: request.headers["Content-Type"] ?? "application/octet-stream")
}

let server = HTTPServer(configuration: configuration, router: router)
do {
    try server.start()
} catch {
    Console.errLine("HTTPHealthServer: \(error)")
    exit(1)
}
Console.outLine("port \(server.port)")

let signals = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
    signal(number, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
    source.setEventHandler { server.stop() }
    source.resume()
    return source
}
await server.waitUntilStopped()
_ = signals
