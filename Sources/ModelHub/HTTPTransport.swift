// HTTP for the hub client, on Foundation's URLSession (FoundationNetworking, libcurl underneath on Linux).
//
// What URLSession on Linux does and does not do, as checked against a loopback server (see LoopbackHubTests):
// - Redirects are followed automatically and the Authorization header goes along to the new host, even another
//   host or port. So this transport never follows redirects (the session delegate refuses each one and the 3xx
//   response itself is returned, headers and all); HubClient follows them by hand and drops the token when the
//   origin changes. A per-task delegate (`data(for:delegate:)`) is ignored on Linux, so the refusal lives on the
//   session's delegate.
// - Range requests pass through untouched (206 with the rest of the body).
// - A transfer cut short ends with an error after the bytes that did arrive have been delivered to the delegate,
//   so a download can resume from exactly what was written.
// - libcurl asks for gzip/br/zstd and decodes them unless `Accept-Encoding: identity` is sent; the hub client
//   sends identity (as huggingface_hub does) so sizes and ranges refer to the file's bytes.
// - Cancelling a task (URLSessionTask.cancel, even invalidateAndCancel) does not stop a transfer whose data keeps
//   arriving: the task reports `.canceling`, yet the delegate goes on receiving data and the task then completes
//   without error (seen with a fast loopback peer; corelibs queues the cancellation behind the transfer). So a
//   cancelled request is finished here at once with CancellationError and detached: its sink is never called
//   again, and whatever the abandoned transfer still delivers is dropped.
// Bodies are streamed to a sink on the session's serial delegate queue, never buffered whole. Each exchange has a
// lock held while its sink runs, so once a request has been finished (cancelled, failed) no sink call is running or
// will run, and the caller may close the file the sink was writing.

import Foundation
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Receives one chunk of a response body (on the delegate queue, in order). Throwing ends the request.
typealias BodySink = @Sendable (Data) throws -> Void

/// One URLSession whose requests never follow redirects and stream their bodies to a sink.
final class HTTPTransport: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    // @unchecked: `session` is set once in init and only read afterwards; all other state is behind Mutexes.

    /// The state of one request in flight.
    private final class Exchange: Sendable {
        struct State {
            /// Nil once the request has been finished (answered, failed or cancelled).
            var continuation: CheckedContinuation<HTTPURLResponse, any Error>?
            var sink: BodySink?
            var response: HTTPURLResponse?
        }

        let state: Mutex<State>
        let chooseSink: @Sendable (HTTPURLResponse) -> BodySink?

        init(
            continuation: CheckedContinuation<HTTPURLResponse, any Error>,
            chooseSink: @escaping @Sendable (HTTPURLResponse) -> BodySink?
        ) {
            self.state = Mutex(State(continuation: continuation))
            self.chooseSink = chooseSink
        }

        /// Ends the request with `result` unless it has ended already; no sink call runs after this returns.
        func finish(_ result: Result<HTTPURLResponse, any Error>) {
            let continuation = state.withLock { state in
                defer { state.continuation = nil }
                return state.continuation
            }
            continuation?.resume(with: result)
        }
    }

    private var session: URLSession!
    private let exchanges = Mutex<[Int: Exchange]>([:])

    /// A transport whose requests time out after `idleTimeout` seconds without data.
    init(idleTimeout: TimeInterval = 30) {
        super.init()
        let configuration = URLSessionConfiguration.ephemeral
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.httpShouldSetCookies = false
        configuration.timeoutIntervalForRequest = idleTimeout
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        queue.name = "vigil.hub.http"
        session = URLSession(configuration: configuration, delegate: self, delegateQueue: queue)
    }

    /// Lets the session go once requests in flight end (the session holds its delegate until then).
    func invalidate() {
        session.finishTasksAndInvalidate()
    }

    /// Sends `request` without following redirects. When the response head arrives, `chooseSink` picks where its
    /// body goes (nil: discarded). Returns the response once the body has been delivered; throws the transport's
    /// error (NSURLErrorDomain), the sink's error, or CancellationError when the calling task is cancelled.
    func send(
        _ request: URLRequest, chooseSink: @escaping @Sendable (HTTPURLResponse) -> BodySink? = { _ in nil }
    ) async throws -> HTTPURLResponse {
        try Task.checkCancellation()
        let box = TaskBox(session.dataTask(with: request))
        let id = box.task.taskIdentifier
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let exchange = Exchange(continuation: continuation, chooseSink: chooseSink)
                exchanges.withLock { $0[id] = exchange }
                if Task.isCancelled {
                    abandon(id, box.task)
                } else {
                    box.task.resume()
                }
            }
        } onCancel: {
            abandon(id, box.task)
        }
    }

    /// Finishes request `id` with CancellationError and detaches it from its task.
    private func abandon(_ id: Int, _ task: URLSessionDataTask) {
        let exchange = exchanges.withLock { $0.removeValue(forKey: id) }
        exchange?.finish(.failure(CancellationError()))
        task.cancel()
    }

    /// Sends `request` and returns the response with its whole body (at most `limit` bytes).
    func fetch(_ request: URLRequest, limit: Int = 64 << 20) async throws -> (HTTPURLResponse, Data) {
        let collector = Collector(limit: limit, url: request.url)
        let response = try await send(request) { _ in collector.append }
        return (response, collector.data)
    }

    // MARK: - URLSessionDataDelegate

    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        if let exchange = exchanges.withLock({ $0[dataTask.taskIdentifier] }),
            let http = response as? HTTPURLResponse
        {
            let sink = exchange.chooseSink(http)
            exchange.state.withLock { state in
                state.response = http
                state.sink = sink
            }
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let exchange = exchanges.withLock({ $0[dataTask.taskIdentifier] }) else { return }
        let failure: (any Error)? = exchange.state.withLock { state in
            guard state.continuation != nil, let sink = state.sink else { return nil }
            do {
                try sink(data)
                return nil
            } catch {
                return error
            }
        }
        if let failure {
            exchanges.withLock { _ = $0.removeValue(forKey: dataTask.taskIdentifier) }
            exchange.finish(.failure(failure))
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let exchange = exchanges.withLock({ $0.removeValue(forKey: task.taskIdentifier) }) else { return }
        if let error {
            exchange.finish(.failure(error))
        } else if let response = exchange.state.withLock({ $0.response }) ?? task.response as? HTTPURLResponse {
            exchange.finish(.success(response))
        } else {
            exchange.finish(.failure(URLError(.badServerResponse)))
        }
    }
}

/// Carries a task into the cancellation handler. (URLSessionTask is thread-safe but not marked Sendable.)
private struct TaskBox: @unchecked Sendable {
    let task: URLSessionDataTask
    init(_ task: URLSessionDataTask) { self.task = task }
}

/// Collects a small body in memory, refusing more than `limit` bytes.
private final class Collector: @unchecked Sendable {
    // @unchecked: appended to under the exchange's lock only; read after the request has finished.
    private(set) var data = Data()
    let limit: Int
    let url: URL?

    init(limit: Int, url: URL?) {
        self.limit = limit
        self.url = url
    }

    func append(_ chunk: Data) throws {
        guard data.count + chunk.count <= limit else {
            throw HubError(
                .badResponse, "the response from \(url?.absoluteString ?? "the hub") is larger than \(limit) bytes")
        }
        data.append(chunk)
    }
}
