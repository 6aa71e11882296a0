// What a streaming handler writes to: `SSEWriter` (Server-Sent Events: `event:`/`id:`/`data:` fields, comments)
// and `HTTPBodyWriter` (raw chunks). Writes never wait: they append to the connection's buffer, bounded by
// `streamBufferBytes`; a client that falls further behind is disconnected (`slowClient`) rather than buffered
// without bound. Once the stream is over every write throws `HTTPStreamError` with the reason, the producer's task
// is cancelled, and the `onTermination` handler runs once.

import Foundation
import VigilCore

/// Why a stream ended.
public enum HTTPStreamTermination: String, Sendable, CustomStringConvertible {
    /// The producer returned and everything was sent.
    case finished
    /// The client closed the connection (or a write to it failed).
    case clientDisconnected
    /// The client read too slowly: more than `streamBufferBytes` waited, and the server disconnected it.
    case slowClient
    /// The server is stopping.
    case serverStopped

    public var description: String { rawValue }
}

/// A write to a stream that has ended.
public struct HTTPStreamError: Error, Sendable, CustomStringConvertible {
    /// Why the stream ended.
    public let reason: HTTPStreamTermination

    public var description: String { "the stream has ended (\(reason))" }
}

/// The connection side of a stream, shared by both writers.
struct StreamChannel: Sendable {
    let context: RequestContext
}

/// Writes Server-Sent Events (text/event-stream) to one client.
public struct SSEWriter: Sendable {
    let channel: StreamChannel

    /// Sends one event: `event:` and `id:` lines when given, then `data`, one `data:` line per line of it. CR and
    /// LF in `event` and `id` are replaced by spaces (they would end the field).
    public func send(event: String? = nil, id: String? = nil, data: String) throws(HTTPStreamError) {
        var text = ""
        if let event { text += "event: " + Self.singleLine(event) + "\n" }
        if let id { text += "id: " + Self.singleLine(id) + "\n" }
        for line in Self.lines(data) { text += "data: " + line + "\n" }
        text += "\n"
        try channel.context.write(text.utf8)
    }

    /// Sends one event whose data is `json` (compact, on one line).
    public func send(event: String? = nil, id: String? = nil, json: JSONValue) throws(HTTPStreamError) {
        try send(event: event, id: id, data: json.serialized())
    }

    /// Sends a comment (`: text`), which clients ignore: a keep-alive or a note for someone reading the stream.
    public func comment(_ text: String) throws(HTTPStreamError) {
        var out = ""
        for line in Self.lines(text) { out += ": " + line + "\n" }
        out += "\n"
        try channel.context.write(out.utf8)
    }

    /// Whether the stream has ended (writes would throw).
    public var isClosed: Bool { channel.context.isStreamClosed }

    /// Bytes written but not yet sent to the client.
    public var bufferedByteCount: Int { channel.context.bufferedByteCount }

    /// Runs `handler` once when the stream ends, with the reason (at once if it already has); never on a network
    /// thread.
    public func onTermination(_ handler: @escaping @Sendable (HTTPStreamTermination) -> Void) {
        channel.context.onTermination(handler)
    }

    static func singleLine(_ text: String) -> String {
        String(text.map { $0 == "\n" || $0 == "\r" || $0 == "\r\n" ? " " : $0 })
    }

    static func lines(_ text: String) -> [Substring] {
        // Character-wise split: "\r\n" is one Character, so it splits once.
        text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
    }
}

/// Writes the chunks of a streamed body of unknown length to one client.
public struct HTTPBodyWriter: Sendable {
    let channel: StreamChannel

    /// Appends `data` to the body.
    public func write(_ data: Data) throws(HTTPStreamError) {
        try channel.context.write(data)
    }

    /// Appends `text` as UTF-8.
    public func write(_ text: String) throws(HTTPStreamError) {
        try channel.context.write(text.utf8)
    }

    /// Whether the stream has ended (writes would throw).
    public var isClosed: Bool { channel.context.isStreamClosed }

    /// Bytes written but not yet sent to the client.
    public var bufferedByteCount: Int { channel.context.bufferedByteCount }

    /// Runs `handler` once when the stream ends, with the reason (at once if it already has); never on a network
    /// thread.
    public func onTermination(_ handler: @escaping @Sendable (HTTPStreamTermination) -> Void) {
        channel.context.onTermination(handler)
    }
}
