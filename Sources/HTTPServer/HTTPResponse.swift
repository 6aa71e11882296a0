// What a handler answers: a status, header fields and a body. The body is either bytes held in memory, an open
// file (sent by the kernel, see `StaticFiles`), or a stream the handler goes on writing after the headers have been
// sent: Server-Sent Events (`eventStream`) or any chunked body (`stream`).

import Foundation
import Synchronization
import VigilCore

/// An HTTP response.
public struct HTTPResponse: Sendable {
    /// The status code.
    public var status: Int
    /// The header fields (`Content-Length`, `Date` and `Transfer-Encoding` are set by the server).
    public var headers: HTTPHeaders
    /// The body.
    public var body: Body

    /// A response body.
    public struct Body: Sendable {
        enum Kind: Sendable {
            case bytes(Data)
            case file(OpenFile)
            case stream(StreamProducer)
        }

        let kind: Kind

        /// A body of `data`.
        public static func bytes(_ data: Data) -> Body { Body(kind: .bytes(data)) }

        /// No body.
        public static var empty: Body { Body(kind: .bytes(Data())) }

        /// The bytes of an in-memory body; nil for files and streams.
        public var data: Data? {
            if case .bytes(let data) = kind { return data }
            return nil
        }

        /// Whether the body is a stream written after the headers are sent.
        public var isStream: Bool {
            if case .stream = kind { return true }
            return false
        }
    }

    /// A response with `status`, `headers` and `body`.
    public init(status: Int = 200, headers: HTTPHeaders = [:], body: Body = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// `value` as compact JSON (`application/json`).
    public static func json(_ value: JSONValue, status: Int = 200, headers: HTTPHeaders = [:]) -> HTTPResponse {
        var headers = headers
        if headers["Content-Type"] == nil { headers["Content-Type"] = "application/json" }
        return HTTPResponse(status: status, headers: headers, body: .bytes(Data(value.serialized().utf8)))
    }

    /// `value` encoded with `JSONEncoder` (`application/json`); a value that cannot be encoded is a 500.
    public static func json<T: Encodable>(encoding value: T, status: Int = 200) -> HTTPResponse {
        guard let data = try? JSONEncoder().encode(value) else { return HTTPError.internalError().response }
        return HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: .bytes(data))
    }

    /// `text` as UTF-8 with `contentType` (default plain text).
    public static func text(
        _ text: String, status: Int = 200, contentType: String = "text/plain; charset=utf-8"
    ) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": contentType], body: .bytes(Data(text.utf8)))
    }

    /// `data` with `contentType`.
    public static func bytes(_ data: Data, contentType: String, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": contentType], body: .bytes(data))
    }

    /// A Server-Sent Events stream (`text/event-stream`). The headers and a first comment (`: ok`) are sent at
    /// once; then `producer` runs (on Swift concurrency, not on a network thread) and writes events until it
    /// returns, which ends the stream. When the client goes away the producer's task is cancelled, its writes
    /// throw, and the writer's `onTermination` handler runs. Counts against `maxStreams`: over the cap the client
    /// gets 429 with `Retry-After` and `producer` never runs.
    public static func eventStream(
        status: Int = 200, headers: HTTPHeaders = [:], _ producer: @escaping @Sendable (SSEWriter) async throws -> Void
    ) -> HTTPResponse {
        var headers = headers
        headers["Content-Type"] = "text/event-stream"
        if headers["Cache-Control"] == nil { headers["Cache-Control"] = "no-cache" }
        headers["X-Accel-Buffering"] = "no"
        let body = StreamProducer(isEventStream: true) { channel in try await producer(SSEWriter(channel: channel)) }
        return HTTPResponse(status: status, headers: headers, body: Body(kind: .stream(body)))
    }

    /// A chunked body of unknown length that `producer` writes after the headers are sent; otherwise like
    /// `eventStream` (cancellation, `onTermination`, the stream cap), but with no first comment and no heartbeat.
    public static func stream(
        status: Int = 200, contentType: String, headers: HTTPHeaders = [:],
        _ producer: @escaping @Sendable (HTTPBodyWriter) async throws -> Void
    ) -> HTTPResponse {
        var headers = headers
        headers["Content-Type"] = contentType
        let body = StreamProducer(isEventStream: false) { channel in
            try await producer(HTTPBodyWriter(channel: channel))
        }
        return HTTPResponse(status: status, headers: headers, body: Body(kind: .stream(body)))
    }
}

/// The handler's code that writes a streamed body.
struct StreamProducer: Sendable {
    /// Server-Sent Events (first comment, heartbeats) rather than raw chunks.
    let isEventStream: Bool
    let run: @Sendable (StreamChannel) async throws -> Void
}

/// An open file that becomes a response body; closed when dropped unless the server took it.
final class OpenFile: Sendable {
    private let descriptor: Mutex<Int32>
    /// Its size in bytes.
    let size: UInt64

    init(descriptor: Int32, size: UInt64) {
        self.descriptor = Mutex(descriptor)
        self.size = size
    }

    /// The descriptor, handed over to the caller (who must close it); -1 once taken.
    func take() -> Int32 {
        descriptor.withLock { fd in
            defer { fd = -1 }
            return fd
        }
    }

    deinit {
        let fd = take()
        if fd >= 0 { close(fd) }
    }
}
