// A small HTTP/1.1 server on 127.0.0.1 for tests: it binds a free port, hands each request to a handler and writes
// the handler's response. One connection per request (`Connection: close`), one thread per connection, no TLS.
// Enough to stand in for the Hugging Face hub (HEAD/GET, redirects, ranges, a transfer cut short) or any other
// HTTP peer a test needs, without touching the network.
//
// Use:
//   let server = try LoopbackHTTPServer { request in .init(status: 200, body: Data("hi".utf8)) }
//   defer { server.stop() }
//   ... request server.baseURL ...
//
// HEAD is answered with the same headers as GET (Content-Length included) and no body, so a handler can treat the
// two alike. Every request is recorded in `requests` (in arrival order) for assertions.

import Foundation
import Glibc
import Synchronization

/// An HTTP/1.1 server on 127.0.0.1 (a free port) that answers requests with a handler, for tests.
public final class LoopbackHTTPServer: Sendable {
    /// One parsed request.
    public struct Request: Sendable {
        /// `GET`, `HEAD`, ...
        public var method: String
        /// The request target as sent (`/org/name/resolve/main/config.json?x=1`), percent-encoding kept.
        public var target: String
        /// Header fields in the order received.
        public var headers: [(name: String, value: String)]
        /// The body (by Content-Length; empty when there is none).
        public var body: Data

        /// The target without its query, percent-encoding kept.
        public var path: String {
            target.firstIndex(of: "?").map { String(target[..<$0]) } ?? target
        }

        /// The value of header `name` (case-insensitive), the last one if repeated.
        public func header(_ name: String) -> String? {
            headers.last { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    /// What to answer.
    public struct Response: Sendable {
        /// Status code.
        public var status: Int
        /// Header fields; `Content-Length` (body size) and `Connection: close` are added when absent.
        public var headers: [(name: String, value: String)]
        /// The body (not sent for HEAD).
        public var body: Data
        /// When set, only this many body bytes are sent before the connection is closed, though Content-Length
        /// announces the whole body: a transfer cut short.
        public var truncatedAfter: Int?

        /// A response with `status`, `headers` and `body`.
        public init(
            status: Int, headers: [(name: String, value: String)] = [], body: Data = Data(), truncatedAfter: Int? = nil
        ) {
            self.status = status
            self.headers = headers
            self.body = body
            self.truncatedAfter = truncatedAfter
        }

        /// A 200 with `text` as a UTF-8 body.
        public static func text(_ text: String, status: Int = 200) -> Response {
            Response(
                status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Data(text.utf8))
        }
    }

    /// Answers one request. Called on the connection's own thread; may be called concurrently.
    public typealias Handler = @Sendable (Request) -> Response

    /// Why the server could not start.
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The port the server listens on (127.0.0.1).
    public let port: UInt16
    /// `http://127.0.0.1:<port>`.
    public let baseURL: URL

    private let listener: Int32
    private let handler: Handler
    private let state = Mutex(State())
    private let finished = DispatchGroup()

    private struct State {
        var isStopped = false
        var requests: [Request] = []
    }

    /// Starts listening on 127.0.0.1:`port` (0: a free port) and serving with `handler`.
    public init(port: UInt16 = 0, handler: @escaping Handler) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StartError(description: "socket() failed: errno \(errno)") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let code = errno
            close(fd)
            throw StartError(description: "cannot listen on 127.0.0.1: errno \(code)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.listener = fd
        self.port = UInt16(bigEndian: address.sin_port)
        self.baseURL = URL(string: "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))")!
        self.handler = handler
        finished.enter()
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    deinit {
        stop()
    }

    /// The requests received so far, in arrival order.
    public var requests: [Request] {
        state.withLock { $0.requests }
    }

    /// Stops accepting, waits for the connections in progress to finish and closes the listening socket.
    /// Idempotent.
    public func stop() {
        let wasStopped = state.withLock { state in
            defer { state.isStopped = true }
            return state.isStopped
        }
        guard !wasStopped else { return }
        finished.wait()
        close(listener)
    }

    private var isStopped: Bool { state.withLock { $0.isStopped } }

    // MARK: - Connections

    private func acceptLoop() {
        defer { finished.leave() }
        while !isStopped {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) > 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            finished.enter()
            Thread.detachNewThread { [self] in
                defer { finished.leave() }
                serve(connection)
                close(connection)
            }
        }
    }

    private func serve(_ connection: Int32) {
        guard let request = readRequest(connection) else { return }
        state.withLock { $0.requests.append(request) }
        let response = handler(request)
        write(response, for: request, to: connection)
    }

    private func readRequest(_ connection: Int32) -> Request? {
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 16384)
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headerEnd: Int?
        while headerEnd == nil {
            let n = recv(connection, &chunk, chunk.count, 0)
            guard n > 0 else { return nil }
            buffer += chunk[0..<n]
            headerEnd = Self.find(separator, in: buffer)
            if buffer.count > 1 << 20 { return nil }
        }
        let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: true)
        guard requestLine.count >= 2 else { return nil }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
            let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            headers.append((name, value))
        }
        var request = Request(
            method: String(requestLine[0]), target: String(requestLine[1]), headers: headers, body: Data())
        var body = Array(buffer[(headerEnd! + separator.count)...])
        let expected = request.header("Content-Length").flatMap { Int($0) } ?? 0
        while body.count < expected {
            let n = recv(connection, &chunk, min(chunk.count, expected - body.count), 0)
            guard n > 0 else { return nil }
            body += chunk[0..<n]
        }
        request.body = Data(body.prefix(expected))
        return request
    }

    private func write(_ response: Response, for request: Request, to connection: Int32) {
        var headers = response.headers
        let has = { (name: String) in headers.contains { $0.name.lowercased() == name.lowercased() } }
        if !has("Content-Length") { headers.append(("Content-Length", String(response.body.count))) }
        if !has("Connection") { headers.append(("Connection", "close")) }
        var head = "HTTP/1.1 \(response.status) \(Self.reason(response.status))\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        guard send(Array(head.utf8), to: connection) else { return }
        guard request.method != "HEAD", response.status != 204, response.status != 304 else { return }
        let body = response.truncatedAfter.map { response.body.prefix($0) } ?? response.body
        _ = send(Array(body), to: connection)
    }

    /// Sends all of `bytes`; false when the peer went away. (MSG_NOSIGNAL: a closed peer must not raise SIGPIPE.)
    private func send(_ bytes: [UInt8], to connection: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(connection, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<(start + needle.count)]) == needle { return start }
        }
        return nil
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 206: return "Partial Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 307: return "Temporary Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 416: return "Range Not Satisfiable"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}
