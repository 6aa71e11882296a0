// The HTTP server: libmicrohttpd (MHD) moves the bytes, Swift concurrency runs the handlers.
//
// Threads. MHD runs `threadPoolSize` network threads, each with its own epoll loop over its share of the
// connections (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL with MHD_OPTION_THREAD_POOL_SIZE). Those threads
// parse requests, check limits, the API key and the route, collect the body and write responses; they never run a
// handler. Once a request is complete its connection is suspended (MHD stops polling it), the handler runs in a
// Swift task, and when it answers the response is stored and the connection resumed: MHD then calls back on the
// network thread, which queues the response. See `RequestContext` for the state machine and `docs/http.md`.
//
// Stopping resumes every suspended connection first (MHD forbids stopping with connections suspended), then stops
// the daemon, which closes every connection and reports each request as terminated.

import CMicroHTTPD
import Foundation
import Synchronization
import VigilCore
import VigilCrypto

/// An HTTP/1.1 server: routes requests to async handlers; full, file and streamed (SSE, chunked) responses.
///
///     var router = HTTPRouter()
///     router.get("/health") { _ in .json(.object([("status", .string("ok"))])) }
///     let server = HTTPServer(configuration: HTTPServerConfiguration(), router: router)
///     try server.start()
///     print(server.port)
///     ...
///     server.stop()
public final class HTTPServer: Sendable {
    /// The settings it was created with.
    public let configuration: HTTPServerConfiguration
    let core: ServerCore

    /// A server with `configuration` and `router`; it listens once `start` is called.
    public init(configuration: HTTPServerConfiguration = HTTPServerConfiguration(), router: HTTPRouter) {
        self.configuration = configuration
        core = ServerCore(configuration: configuration, router: router)
    }

    deinit {
        core.stop()
    }

    /// Binds the address and starts the network threads. Throws when the address cannot be used (taken, not
    /// local, permission) or MHD refuses to start. Starting twice, or after `stop`, is a programmer error.
    public func start() throws(HTTPServerError) {
        try core.start()
    }

    /// The port it listens on (the chosen one when configured with 0); 0 before `start`.
    public var port: UInt16 { core.boundPort.load(ordering: .acquiring) }

    /// Whether it has started and not yet stopped.
    public var isRunning: Bool { core.isRunning }

    /// Streaming responses open now (counted from the moment a handler returns one until its connection ends).
    public var activeStreamCount: Int { core.activeStreams.load(ordering: .acquiring) }

    /// Stops: running handlers and stream producers are cancelled, waiting requests get 503, open streams end,
    /// every connection is closed, the port is released. Idempotent; returns once all network threads are done.
    public func stop() {
        core.stop()
    }

    /// Returns once the server has stopped (at once if it already has, or was never started and `stop` was called).
    public func waitUntilStopped() async {
        await core.waitUntilStopped()
    }

    /// Answers `request` in-process, without a connection: the same checks (URL and header sizes, API key, route,
    /// body size) and the same handler and error responses as a request received over the network. The server
    /// need not be started. A streamed response is returned as the handler made it, not run.
    public func respond(to request: HTTPRequest) async -> HTTPResponse {
        var request = request
        switch core.admit(&request) {
        case .failure(let error):
            return error.response
        case .success(let handler):
            if request.body.count > configuration.maxRequestBodyBytes {
                return HTTPError.payloadTooLarge(limit: configuration.maxRequestBodyBytes).response
            }
            return await ServerCore.answer(request, with: handler)
        }
    }
}

/// Everything the C callbacks reach through their context pointer. Outlives the daemon.
final class ServerCore: @unchecked Sendable {
    // @unchecked: mutable state is in Mutex/Atomic values; the rest is immutable after init.

    let configuration: HTTPServerConfiguration
    let router: HTTPRouter
    /// SHA-256 of the API key, compared in constant time with the digest of the presented one.
    let apiKeyDigest: [UInt8]?
    let stopping = Atomic<Bool>(false)
    let activeStreams = Atomic<Int>(0)
    let boundPort = Atomic<UInt16>(0)

    private enum Lifecycle {
        case idle
        case running(daemon: OpaquePointer, ticker: Task<Void, Never>)
        case stopped
    }

    private let lifecycle = Mutex<Lifecycle>(.idle)
    private let stopWaiters = Mutex<[CheckedContinuation<Void, Never>]?>([])
    private let contexts = Mutex<[ObjectIdentifier: RequestContext]>([:])
    private let lastLogLine = Mutex<String>("")
    private let logger: UnsafeMutablePointer<vmhd_logger>

    init(configuration: HTTPServerConfiguration, router: HTTPRouter) {
        self.configuration = configuration
        self.router = router
        apiKeyDigest = configuration.apiKey.map { SHA256.hash(Array($0.utf8)) }
        logger = .allocate(capacity: 1)
        logger.initialize(to: vmhd_logger(write: logLine, context: nil))
        logger.pointee.context = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        logger.deallocate()
    }

    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    var isRunning: Bool {
        lifecycle.withLock {
            if case .running = $0 { return true }
            return false
        }
    }

    // MARK: - Start and stop

    func start() throws(HTTPServerError) {
        try lifecycle.withLock { state throws(HTTPServerError) in
            guard case .idle = state else { preconditionFailure("HTTPServer.start() called twice or after stop()") }
            let listener = try ListenSocket.open(host: configuration.host, port: configuration.port)
            let context = Unmanaged.passUnretained(self).toOpaque()
            let idleSeconds =
                configuration.idleTimeout.components.seconds
                + (configuration.idleTimeout.components.attoseconds > 0 ? 1 : 0)
            var settings = vmhd_settings(
                listen_socket: listener.descriptor,
                thread_pool_size: UInt32(max(1, configuration.threadPoolSize)),
                connection_limit: UInt32(max(1, configuration.maxConnections)),
                // MHD's per-connection pool holds the request line, the headers and the read/write buffers; our
                // own checks (414/431 as JSON) trip first, MHD's own 414/431 only for grossly larger requests.
                connection_memory_limit: max(
                    64 << 10, configuration.maxHeaderBytes + configuration.maxURLLength + (32 << 10)),
                connection_timeout: UInt32(clamping: max(0, idleSeconds)),
                access_handler: accessHandler, access_handler_context: context,
                request_completed: requestCompleted, request_completed_context: context,
                logger: logger)
            // MHD_USE_TURBO: read and write before asking epoll, add new connections to epoll only once they
            // would block (measured: about 1.6 times the requests per second of the same loop without it).
            var flags =
                MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue
                | MHD_ALLOW_SUSPEND_RESUME.rawValue | MHD_USE_ERROR_LOG.rawValue | MHD_USE_TURBO.rawValue
            if listener.isIPv6 { flags |= MHD_USE_IPv6.rawValue }
            lastLogLine.withLock { $0 = "" }
            guard let daemon = vmhd_start_daemon(flags, &settings) else {
                close(listener.descriptor)
                let reason = lastLogLine.withLock { $0 }
                throw HTTPServerError(
                    "cannot start the HTTP server on \(configuration.host):\(listener.port)"
                        + (reason.isEmpty ? "" : ": \(reason)"))
            }
            boundPort.store(listener.port, ordering: .releasing)
            let tick = Self.heartbeatTick(configuration.heartbeatInterval)
            let ticker = Task.detached { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: tick)
                    guard let self else { return }
                    self.sendHeartbeats()
                }
            }
            state = .running(daemon: daemon, ticker: ticker)
        }
    }

    /// How often the streams are checked for a due heartbeat: a quarter of the interval, between 50 ms and 1 s.
    static func heartbeatTick(_ interval: Duration) -> Duration {
        min(max(interval / 4, .milliseconds(50)), .seconds(1))
    }

    func stop() {
        lifecycle.withLock { state in
            switch state {
            case .idle:
                state = .stopped
            case .stopped:
                return
            case .running(let daemon, let ticker):
                stopping.store(true, ordering: .releasing)
                ticker.cancel()
                // Every context registered before `stopping` was set is woken here; any later one sees `stopping`
                // before it would suspend (the registry lock orders the two).
                for context in contexts.withLock({ Array($0.values) }) { context.wakeForStop() }
                MHD_stop_daemon(daemon)
                state = .stopped
            }
        }
        let waiters = stopWaiters.withLock { waiters in
            defer { waiters = nil }
            return waiters ?? []
        }
        for waiter in waiters { waiter.resume() }
    }

    func waitUntilStopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let queued = stopWaiters.withLock { waiters -> Bool in
                guard waiters != nil else { return false }
                waiters!.append(continuation)
                return true
            }
            if !queued { continuation.resume() }
        }
    }

    // MARK: - Requests

    /// Checks a request whose method, path, query and headers are in (the body is not): the server is running, the
    /// URL and headers are within the limits, the API key is right (or the path public), a route matches (its
    /// parameters are stored in `request`) and a `Content-Length` is within the body limit. Returns the route's
    /// handler, or the error to answer with.
    func admit(_ request: inout HTTPRequest) -> Result<HTTPHandler, HTTPError> {
        if isStopping {
            return .failure(.unavailable("the server is stopping", retryAfter: configuration.retryAfterSeconds))
        }
        let urlLength =
            request.path.utf8.count
            + request.query.items.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 2 }
        if urlLength > configuration.maxURLLength {
            return .failure(
                HTTPError(
                    status: 414, code: .uriTooLong,
                    message: "the URL is longer than this server accepts (\(configuration.maxURLLength) bytes)"))
        }
        let headerBytes = request.headers.fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        if headerBytes > configuration.maxHeaderBytes {
            return .failure(
                HTTPError(
                    status: 431, code: .headersTooLarge,
                    message: "the request headers are larger than this server accepts "
                        + "(\(configuration.maxHeaderBytes) bytes)"))
        }
        if !isPublic(request.path) && !isAuthorized(request.headers["Authorization"]) {
            return .failure(.unauthorized())
        }
        let handler: HTTPHandler
        switch router.resolve(request.method, request.path) {
        case .notFound:
            return .failure(.notFound("no route for \(request.path)"))
        case .methodNotAllowed(let allowed):
            return .failure(.methodNotAllowed(request.method, path: request.path, allowed: allowed))
        case .found(let found, let parameters):
            handler = found
            request.pathParameters = parameters
        }
        if let length = request.headers["Content-Length"].flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }),
            length > configuration.maxRequestBodyBytes
        {
            return .failure(.payloadTooLarge(limit: configuration.maxRequestBodyBytes))
        }
        return .success(handler)
    }

    /// Runs `handler` on `request`; an error it throws becomes its response (an `HTTPError` as it is, cancellation
    /// 503, anything else a logged 500).
    static func answer(_ request: HTTPRequest, with handler: HTTPHandler) async -> HTTPResponse {
        do {
            return try await handler(request)
        } catch let error as HTTPError {
            return error.response
        } catch is CancellationError {
            return HTTPError.unavailable("the request was cancelled").response
        } catch {
            Log.warning("http: \(request.method.rawValue) \(request.path) failed: \(error)")
            return HTTPError.internalError().response
        }
    }

    func register(_ context: RequestContext) {
        contexts.withLock { $0[ObjectIdentifier(context)] = context }
    }

    func unregister(_ context: RequestContext) {
        _ = contexts.withLock { $0.removeValue(forKey: ObjectIdentifier(context)) }
    }

    /// Takes a stream slot when fewer than `maxStreams` are open.
    func reserveStream() -> Bool {
        var current = activeStreams.load(ordering: .relaxed)
        while current < configuration.maxStreams {
            let (exchanged, original) = activeStreams.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func releaseStream() {
        activeStreams.subtract(1, ordering: .acquiringAndReleasing)
    }

    /// Whether `path` needs no API key.
    func isPublic(_ path: String) -> Bool {
        configuration.publicPaths.contains { pattern in
            pattern.hasSuffix("*") ? path.hasPrefix(pattern.dropLast()) : path == pattern
        }
    }

    /// Whether an `Authorization` header value carries the configured key (constant time in the key).
    func isAuthorized(_ authorization: String?) -> Bool {
        guard let apiKeyDigest else { return true }
        guard let authorization else { return false }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return false }
        let presented = SHA256.hash(Array(parts[1].trimmingCharacters(in: .whitespaces).utf8))
        return ConstantTime.equals(presented, apiKeyDigest)
    }

    private func sendHeartbeats() {
        let interval = configuration.heartbeatInterval
        let nanoseconds =
            UInt64(interval.components.seconds) * 1_000_000_000
            + UInt64(interval.components.attoseconds / 1_000_000_000)
        let now = DispatchTime.now().uptimeNanoseconds
        for context in contexts.withLock({ Array($0.values) }) {
            context.heartbeat(now: now, interval: nanoseconds)
        }
    }

    fileprivate func record(logLine line: String) {
        let line = line.trimmingCharacters(in: .whitespacesAndNewlines)
        lastLogLine.withLock { $0 = line }
        Log.debug("http: \(line)")
    }
}

// MARK: - C callbacks (no captures: everything comes through the context pointers)

private let logLine: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void = { context, line in
    guard let context, let line else { return }
    Unmanaged<ServerCore>.fromOpaque(context).takeUnretainedValue().record(logLine: String(cString: line))
}

private let accessHandler: MHD_AccessHandlerCallback = {
    cls, connection, url, method, _, uploadData, uploadSize, requestContext in
    guard let cls, let connection, let uploadSize, let requestContext else { return .NO }
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
    if let existing = requestContext.pointee {
        let context = Unmanaged<RequestContext>.fromOpaque(existing).takeUnretainedValue()
        if uploadSize.pointee > 0 {
            let count = uploadSize.pointee
            uploadSize.pointee = 0
            return context.receive(uploadData, count: count) ? .YES : .NO
        }
        return context.proceed()
    }
    // First call: the request line and the headers are in, the body (if any) is not.
    let context = RequestContext(core: core, connection: connection)
    requestContext.pointee = Unmanaged.passRetained(context).toOpaque()
    core.register(context)
    return context.admit(url: url, method: method)
}

private let requestCompleted: MHD_RequestCompletedCallback = { _, _, requestContext, termination in
    guard let requestContext, let pointer = requestContext.pointee else { return }
    requestContext.pointee = nil
    let context = Unmanaged<RequestContext>.fromOpaque(pointer).takeRetainedValue()
    context.close(completedNormally: termination == .REQUEST_TERMINATED_COMPLETED_OK)
}
