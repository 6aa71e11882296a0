// The server's settings: where it listens, how many network threads it runs, the limits it enforces on requests
// and streams, and the optional API key. Defaults suit a local `vigil serve` on loopback.

/// Settings of an `HTTPServer`.
public struct HTTPServerConfiguration: Sendable {
    /// The address to listen on: an IPv4 or IPv6 literal or a host name (default loopback only).
    public var host = "127.0.0.1"
    /// The TCP port; 0 picks any free port (read it from `HTTPServer.port` once started).
    public var port: UInt16 = 0
    /// libmicrohttpd network threads (each runs its own epoll loop; they only move bytes, never run handlers).
    public var threadPoolSize = 2
    /// Open connections at most; more are refused at accept.
    public var maxConnections = 512
    /// Request body bytes at most; a larger `Content-Length` gets 413 at once, a chunked body that grows past it
    /// has its connection closed.
    public var maxRequestBodyBytes = 16 << 20
    /// Request header bytes at most (names, values and separators): over it, 431.
    public var maxHeaderBytes = 16 << 10
    /// URL length at most (path plus query): over it, 414.
    public var maxURLLength = 8 << 10
    /// A connection with no traffic for this long is closed (not while a handler runs or a stream waits for data;
    /// streams stay alive through heartbeats). Whole seconds; zero means never.
    public var idleTimeout: Duration = .seconds(60)
    /// Streaming responses (SSE or chunked) open at once at most; over it, 429 with `Retry-After`.
    public var maxStreams = 32
    /// Bytes a stream may buffer for a slow client; a client that falls further behind is disconnected.
    public var streamBufferBytes = 1 << 20
    /// An SSE stream with nothing to send for this long gets a comment line, which keeps proxies from closing
    /// it and reveals clients that hung up.
    public var heartbeatInterval: Duration = .seconds(15)
    /// Seconds given in `Retry-After` when the stream cap is reached or the server is stopping.
    public var retryAfterSeconds = 5
    /// When set, every request outside `publicPaths` must send `Authorization: Bearer <apiKey>` (compared in
    /// constant time); others get 401 with `WWW-Authenticate: Bearer`.
    public var apiKey: String?
    /// Paths that need no API key: exact paths, or prefixes ending in `*` (`/health*` covers `/health/ready`).
    public var publicPaths = ["/health*"]

    /// The defaults.
    public init() {}
}
