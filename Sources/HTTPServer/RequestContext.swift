// One request from its first callback to its completion: the state machine that hands a request from an MHD network
// thread to a Swift task and back, and the buffer of a streamed response.
//
//   receiving ──(body complete: suspend, start handler task)──► handling ──(handler answered: store, resume)──►
//   ready ──(network thread queues the response)──► sent | streaming ──(MHD reports completion)──► closed
//
// A connection is suspended (MHD stops polling it) in exactly two situations, always by its network thread and
// always under `lock`: while its handler runs, and while a stream has nothing to send. It is resumed by whoever
// changes that (the handler's task, a stream write, a heartbeat, `stop`), under the same lock, and only if it is
// suspended: the `isSuspended` flag pairs every suspend with one resume. A stream that has nothing to send never
// returns 0 from the content reader without suspending (MHD would call it again at once, a busy loop).
//
// A suspended connection notices neither a timeout nor a client that hangs up, so streams get a heartbeat comment
// when idle (`heartbeatInterval`): the write to a closed socket fails and MHD ends the request.

import CMicroHTTPD
import Foundation
import Glibc
import Synchronization
import VigilCore

/// A request in flight. Retained by MHD's per-request pointer (and by a stream response's reader) until MHD
/// reports the request complete.
final class RequestContext: @unchecked Sendable {
    // @unchecked: `request` and `handler` are written on the network thread before the handler task starts and only
    // read afterwards; everything below `lock` is accessed under it.

    enum Phase {
        case receiving
        case handling
        case ready(HTTPResponse)
        case sent
        case streaming
        case closed
    }

    let core: ServerCore
    let connection: OpaquePointer
    private var request = HTTPRequest(method: .get, path: "/")
    private var handler: HTTPHandler?
    private var bodyOverflow = false

    private let lock = Mutex<Void>(())
    private var phase = Phase.receiving
    private var isSuspended = false
    private var handlerTask: Task<Void, Never>?
    private var stream: StreamState?

    init(core: ServerCore, connection: OpaquePointer) {
        self.core = core
        self.connection = connection
    }

    // MARK: - Network thread: request

    /// First callback: reads the request line and headers and rejects at once what cannot succeed.
    func admit(url: UnsafePointer<CChar>?, method: UnsafePointer<CChar>?) -> MHD_Result {
        request.method = HTTPMethod(method.map { String(cString: $0) } ?? "GET")
        request.path = url.map { String(cString: $0) } ?? "/"
        request.headers = HTTPHeaders(values(of: .HEADER_KIND))
        request.query = HTTPQuery(values(of: .GET_ARGUMENT_KIND))

        switch core.admit(&request) {
        case .failure(let error):
            return reject(error)
        case .success(let handler):
            self.handler = handler
        }
        if let length = request.headers["Content-Length"].flatMap({ Int($0.trimmingCharacters(in: .whitespaces)) }) {
            request.body.reserveCapacity(min(max(length, 0), 1 << 20))
        }
        return .YES
    }

    /// A piece of the body; false (close the connection) once the body outgrows the limit (chunked uploads: MHD
    /// cannot answer in the middle of a body).
    func receive(_ bytes: UnsafePointer<CChar>?, count: Int) -> Bool {
        guard let bytes, !bodyOverflow else { return !bodyOverflow }
        if request.body.count + count > core.configuration.maxRequestBodyBytes {
            bodyOverflow = true
            Log.debug("http: \(request.method) \(request.path): chunked body over the limit, connection closed")
            return false
        }
        request.body.append(UnsafeRawPointer(bytes).assumingMemoryBound(to: UInt8.self), count: count)
        return true
    }

    /// A callback with no new body bytes: the body is complete (start the handler) or the connection was resumed
    /// (queue the handler's response).
    func proceed() -> MHD_Result {
        enum Next {
            case wait
            case start
            case queue(HTTPResponse)
        }
        let retryAfter = core.configuration.retryAfterSeconds
        let next: Next = lock.withLock { _ in
            switch phase {
            case .receiving:
                if core.isStopping {
                    phase = .sent
                    return .queue(HTTPError.unavailable("the server is stopping", retryAfter: retryAfter).response)
                }
                MHD_suspend_connection(connection)
                isSuspended = true
                phase = .handling
                return .start
            case .handling:
                // Resumed by `stop` before the handler answered.
                phase = .sent
                return .queue(HTTPError.unavailable("the server is stopping", retryAfter: retryAfter).response)
            case .ready(let response):
                phase = response.body.isStream ? .streaming : .sent
                return .queue(response)
            case .sent, .streaming, .closed:
                return .wait
            }
        }
        switch next {
        case .wait: return .YES
        case .queue(let response): return queue(response)
        case .start:
            startHandler()
            return .YES
        }
    }

    private func reject(_ error: HTTPError) -> MHD_Result {
        lock.withLock { _ in phase = .sent }
        return queue(error.response)
    }

    private func values(of kind: MHD_ValueKind) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        withUnsafeMutablePointer(to: &fields) { pointer in
            _ = MHD_get_connection_values(connection, kind, collectValue, UnsafeMutableRawPointer(pointer))
        }
        return fields
    }

    /// Hands `response` to MHD (network thread only).
    private func queue(_ response: HTTPResponse) -> MHD_Result {
        var made: OpaquePointer?
        switch response.body.kind {
        case .bytes(let data):
            made = data.withUnsafeBytes {
                MHD_create_response_from_buffer(
                    $0.count, UnsafeMutableRawPointer(mutating: $0.baseAddress), .RESPMEM_MUST_COPY)
            }
        case .file(let file):
            let descriptor = file.take()
            guard descriptor >= 0 else { return .NO }
            made = MHD_create_response_from_fd64(file.size, descriptor)
            if made == nil { Glibc.close(descriptor) }
        case .stream:
            let reader = Unmanaged.passRetained(self).toOpaque()
            made = MHD_create_response_from_callback(
                UInt64.max, 16 << 10, contentReader, reader, contentReaderFree)
            if made == nil { Unmanaged<RequestContext>.fromOpaque(reader).release() }
        }
        guard let made else {
            Log.warning("http: could not create a response for \(request.method) \(request.path)")
            return .NO
        }
        for (name, value) in response.headers { _ = MHD_add_response_header(made, name, value) }
        let result = MHD_queue_response(connection, UInt32(response.status), made)
        MHD_destroy_response(made)
        return result
    }

    // MARK: - Handler task

    private func startHandler() {
        let request = request
        guard let handler else { preconditionFailure("a routed request has a handler") }
        let task = Task { [self] in
            complete(with: await ServerCore.answer(request, with: handler))
        }
        lock.withLock { _ in
            if case .closed = phase { task.cancel() } else if case .handling = phase { handlerTask = task }
        }
    }

    /// The handler answered: store the response and resume the connection so the network thread queues it.
    private func complete(with response: HTTPResponse) {
        var response = response
        var newStream: StreamState?
        if case .stream(let producer) = response.body.kind {
            if core.reserveStream() {
                newStream = StreamState(producer: producer)
            } else {
                response =
                    HTTPError.tooManyRequests(
                        "this server already has \(core.configuration.maxStreams) streams open; try again later",
                        retryAfter: core.configuration.retryAfterSeconds
                    ).response
            }
        }
        let accepted: Bool = lock.withLock { _ in
            guard case .handling = phase else { return false }
            phase = .ready(response)
            handlerTask = nil
            stream = newStream
            resumeIfSuspended()
            return true
        }
        guard let newStream else { return }
        guard accepted else {
            core.releaseStream()
            return
        }
        let producer = newStream.producer
        let channel = StreamChannel(context: self)
        let task = Task { [self] in
            do {
                try await producer.run(channel)
            } catch is HTTPStreamError {
            } catch is CancellationError {
            } catch {
                Log.warning("http: stream of \(request.method.rawValue) \(request.path) failed: \(error)")
            }
            finishStream()
        }
        lock.withLock { _ in
            if case .closed = phase { task.cancel() } else { newStream.task = task }
        }
    }

    // MARK: - Streams

    /// Network thread: up to `capacity` buffered bytes into `destination`; 0 after suspending when there are none.
    func read(into destination: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        lock.withLock { _ in
            guard let stream, case .streaming = phase else { return contentReaderError }
            if core.isStopping || stream.abort != nil { return contentReaderError }
            let available = stream.buffer.count - stream.readOffset
            if available > 0 {
                let count = min(available, capacity)
                stream.buffer.withUnsafeBytes { bytes in
                    UnsafeMutableRawPointer(destination).copyMemory(
                        from: bytes.baseAddress! + stream.readOffset, byteCount: count)
                }
                stream.readOffset += count
                if stream.readOffset == stream.buffer.count {
                    stream.buffer.removeAll(keepingCapacity: true)
                    stream.readOffset = 0
                } else if stream.readOffset >= 64 << 10 {
                    stream.buffer.removeFirst(stream.readOffset)
                    stream.readOffset = 0
                }
                return count
            }
            if stream.finished { return contentReaderEndOfStream }
            MHD_suspend_connection(connection)
            isSuspended = true
            return 0
        }
    }

    /// Any thread: appends `bytes` to the stream, or throws why the stream is over.
    func write(_ bytes: some Collection<UInt8>) throws(HTTPStreamError) {
        let limit = core.configuration.streamBufferBytes
        let failure: HTTPStreamTermination? = lock.withLock { _ in
            guard let stream else { return .clientDisconnected }
            if let reason = endReason(stream) { return reason }
            if stream.buffer.count - stream.readOffset + bytes.count > limit {
                disconnectSlowClient(stream)
                return .slowClient
            }
            stream.buffer.append(contentsOf: bytes)
            stream.lastWrite = DispatchTime.now().uptimeNanoseconds
            resumeIfSuspended()
            return nil
        }
        if let failure { throw HTTPStreamError(reason: failure) }
    }

    /// Ends a stream whose client reads too slowly (under `lock`). A suspended connection is resumed (its reader
    /// then fails the response); one that MHD keeps waiting to become writable (the client reads nothing at all) is
    /// shut down, so the pending write fails now rather than at the idle timeout. The socket is still open here: MHD
    /// closes it only after reporting the request complete, which takes this lock.
    private func disconnectSlowClient(_ stream: StreamState) {
        stream.abort = .slowClient
        if isSuspended {
            resumeIfSuspended()
        } else {
            let socket = vmhd_connection_socket(connection)
            if socket >= 0 { shutdown(socket, Int32(SHUT_RDWR)) }
        }
    }

    /// Why writes to `stream` fail now, or nil while it is open (under `lock`).
    private func endReason(_ stream: StreamState) -> HTTPStreamTermination? {
        if let termination = stream.termination { return termination }
        if let abort = stream.abort { return abort }
        if core.isStopping { return .serverStopped }
        if case .closed = phase { return .clientDisconnected }
        if stream.finished { return .finished }
        return nil
    }

    /// Whether the stream can no longer be written to.
    var isStreamClosed: Bool {
        lock.withLock { _ in stream.map { endReason($0) != nil } ?? true }
    }

    /// Bytes written but not yet sent.
    var bufferedByteCount: Int {
        lock.withLock { _ in stream.map { $0.buffer.count - $0.readOffset } ?? 0 }
    }

    /// Runs `handler` once the stream ends (at once if it has).
    func onTermination(_ handler: @escaping @Sendable (HTTPStreamTermination) -> Void) {
        let ended: HTTPStreamTermination? = lock.withLock { _ in
            guard let stream else { return .clientDisconnected }
            if let termination = stream.termination { return termination }
            stream.onTermination = handler
            return nil
        }
        if let ended { handler(ended) }
    }

    /// The producer returned: send what is buffered, then end the body.
    private func finishStream() {
        lock.withLock { _ in
            stream?.finished = true
            resumeIfSuspended()
        }
    }

    /// Ticker: a comment on an SSE stream idle for `interval` nanoseconds.
    func heartbeat(now: UInt64, interval: UInt64) {
        lock.withLock { _ in
            guard case .streaming = phase, let stream, stream.isEventStream, endReason(stream) == nil,
                now &- stream.lastWrite >= interval
            else { return }
            stream.buffer.append(contentsOf: Self.heartbeatComment)
            stream.lastWrite = now
            resumeIfSuspended()
        }
    }

    static let heartbeatComment = Array(": ping\n\n".utf8)

    // MARK: - Completion and stop

    /// MHD reports the request complete (sent, failed, timed out, or shut down). Network thread: the stream slot and
    /// the registry entry are released here, the tasks are cancelled and `onTermination` runs on Swift concurrency.
    func close(completedNormally: Bool) {
        var task: Task<Void, Never>?
        var ended: StreamEnd?
        lock.withLock { _ in
            phase = .closed
            isSuspended = false
            task = handlerTask
            handlerTask = nil
            guard let stream else { return }
            let reason =
                stream.abort
                ?? (core.isStopping
                    ? .serverStopped : (completedNormally && stream.finished ? .finished : .clientDisconnected))
            stream.termination = reason
            ended = StreamEnd(reason: reason, handler: stream.onTermination, producer: stream.task)
            stream.onTermination = nil
            stream.task = nil
        }
        if ended != nil { core.releaseStream() }
        core.unregister(self)
        // Cancellation handlers and `onTermination` are the application's code: not on this network thread.
        if task != nil || ended != nil {
            let (task, ended) = (task, ended)
            Task.detached {
                task?.cancel()
                ended?.producer?.cancel()
                if let ended { ended.handler?(ended.reason) }
            }
        }
    }

    private struct StreamEnd: Sendable {
        let reason: HTTPStreamTermination
        let handler: (@Sendable (HTTPStreamTermination) -> Void)?
        let producer: Task<Void, Never>?
    }

    /// `stop`: resume a suspended connection so MHD can close it; cancel the handler and the stream producer.
    func wakeForStop() {
        let tasks: [Task<Void, Never>] = lock.withLock { _ in
            resumeIfSuspended()
            return [handlerTask, stream?.task].compactMap { $0 }
        }
        for task in tasks { task.cancel() }
    }

    /// Under `lock`.
    private func resumeIfSuspended() {
        guard isSuspended else { return }
        isSuspended = false
        MHD_resume_connection(connection)
    }
}

/// The buffer and state of a streamed response; accessed only under its context's lock.
final class StreamState {
    let producer: StreamProducer
    var isEventStream: Bool { producer.isEventStream }
    var buffer: [UInt8]
    var readOffset = 0
    var lastWrite = DispatchTime.now().uptimeNanoseconds
    /// The producer returned: end the body once the buffer is sent.
    var finished = false
    /// The server ended the stream (slow client).
    var abort: HTTPStreamTermination?
    /// Set when MHD reported the request complete.
    var termination: HTTPStreamTermination?
    var onTermination: (@Sendable (HTTPStreamTermination) -> Void)?
    var task: Task<Void, Never>?

    init(producer: StreamProducer) {
        self.producer = producer
        // SSE: a first comment, so MHD sends the headers now (it holds them back until the first body bytes).
        buffer = producer.isEventStream ? Array(": ok\n\n".utf8) : []
    }
}

private let contentReaderEndOfStream = -1
private let contentReaderError = -2

private let contentReader: MHD_ContentReaderCallback = { cls, _, destination, capacity in
    guard let cls, let destination else { return contentReaderError }
    return Unmanaged<RequestContext>.fromOpaque(cls).takeUnretainedValue().read(into: destination, capacity: capacity)
}

private let contentReaderFree: MHD_ContentReaderFreeCallback = { cls in
    guard let cls else { return }
    Unmanaged<RequestContext>.fromOpaque(cls).release()
}

private let collectValue: MHD_KeyValueIterator = { cls, _, key, value in
    guard let cls, let key else { return .YES }
    let fields = cls.assumingMemoryBound(to: [(name: String, value: String)].self)
    fields.pointee.append((name: String(cString: key), value: value.map { String(cString: $0) } ?? ""))
    return .YES
}
