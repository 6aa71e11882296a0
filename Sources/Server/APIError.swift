// The errors of the API (docs/api.md, "Errors"): every failure is `{"error":{"code":"…","message":"…"}}` with one of
// HTTPServer's stable codes plus three of this API's own — `path_not_allowed` (403), `queue_full` (429) and
// `not_ready` (503) — and a message that says what is wrong and what to do, never a path of the server or a trace.
// `ServerError` is for the operator: the server cannot start (state folder, allowed folders, sources on the command
// line).

import HTTPServer
import VigilCore

/// The API's errors, as `HTTPError`s.
enum APIError {
    /// 403 `path_not_allowed`: a file input outside the allowed folders.
    static func pathNotAllowed(_ message: String) -> HTTPError {
        HTTPError(status: 403, code: "path_not_allowed", message: message)
    }

    /// 429 `queue_full` with `Retry-After`.
    static func queueFull(_ message: String, retryAfter: Int) -> HTTPError {
        HTTPError(status: 429, code: "queue_full", message: message, headers: ["Retry-After": String(retryAfter)])
    }

    /// 503 `not_ready`: the model is still loading.
    static var notReady: HTTPError {
        HTTPError(
            status: 503, code: "not_ready", message: "the server is loading its model; try again in a few seconds",
            headers: ["Retry-After": "5"])
    }

    /// 404 `not_found` for source `id`.
    static func unknownSource(_ id: String) -> HTTPError {
        .notFound("no source '\(id)'; GET /v1/sources lists them")
    }

    /// 404 `not_found` for job `id`.
    static func unknownJob(_ id: String) -> HTTPError {
        .notFound("no job '\(id)'; GET /v1/jobs lists them")
    }

    /// 404 `not_found` for alert `id` of source `source`.
    static func unknownAlert(_ id: String, source: String) -> HTTPError {
        .notFound("source '\(source)' has no alert '\(id)'; GET /v1/sources/\(source)/alerts lists them")
    }

    /// 409 `conflict` with `message`.
    static func conflict(_ message: String) -> HTTPError {
        HTTPError(status: 409, code: .conflict, message: message)
    }
}

/// The server cannot start: which setting or file, what is wrong, what to do.
public struct ServerError: UserFacingError, Sendable {
    /// The whole message.
    public var message: String

    /// An error with `message`.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
