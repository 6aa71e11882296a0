// Every failure the server answers is a JSON object `{"error":{"code":"…","message":"…"}}` with a stable
// machine-readable code and a message for a person: what is wrong and what to do. Handlers throw `HTTPError` to
// answer with one; any other error thrown by a handler becomes a 500 `internal` whose message reveals nothing
// (no stack trace, no server path: the details go to the server's log).
//
// `HTTPServerError` is the other kind: the server itself could not start (the address is taken, say).

import VigilCore

/// An error answered to the client as a JSON error object with `status`.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    /// A stable error code: part of the API, clients may branch on it.
    public struct Code: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral {
        /// The code as sent (`not_found`).
        public let rawValue: String

        /// The code `rawValue`.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The code `value`.
        public init(stringLiteral value: String) { rawValue = value }

        /// 400: the request is malformed (bad JSON, a missing field, a bad parameter).
        public static let badRequest: Code = "bad_request"
        /// 401: no API key, or a wrong one.
        public static let unauthorized: Code = "unauthorized"
        /// 403: the key is valid but may not do this.
        public static let forbidden: Code = "forbidden"
        /// 404: no such route or resource.
        public static let notFound: Code = "not_found"
        /// 405: the route exists, not with this method (the `Allow` header lists the methods).
        public static let methodNotAllowed: Code = "method_not_allowed"
        /// 409: the request conflicts with the current state.
        public static let conflict: Code = "conflict"
        /// 413: the body is larger than the server accepts.
        public static let payloadTooLarge: Code = "payload_too_large"
        /// 414: the URL is longer than the server accepts.
        public static let uriTooLong: Code = "uri_too_long"
        /// 415: the body is not of a type the route accepts.
        public static let unsupportedMediaType: Code = "unsupported_media_type"
        /// 429: too many concurrent streams (or requests); `Retry-After` says when to try again.
        public static let tooManyRequests: Code = "too_many_requests"
        /// 431: the request's header fields are larger than the server accepts.
        public static let headersTooLarge: Code = "headers_too_large"
        /// 500: the server failed; the message says nothing more (the log does).
        public static let internalError: Code = "internal"
        /// 503: the server is starting or stopping, or a resource is not ready.
        public static let unavailable: Code = "unavailable"
    }

    /// The HTTP status code.
    public var status: Int
    /// The stable error code.
    public var code: Code
    /// The message for a person.
    public var message: String
    /// Extra response headers (`WWW-Authenticate`, `Allow`, `Retry-After`).
    public var headers: HTTPHeaders

    /// An error answered with `status`, `code` and `message`.
    public init(status: Int, code: Code, message: String, headers: HTTPHeaders = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status) \(code.rawValue): \(message)" }

    /// The error as its JSON body.
    public var json: JSONValue {
        .object([("error", .object([("code", .string(code.rawValue)), ("message", .string(message))]))])
    }

    /// The error as a response.
    public var response: HTTPResponse {
        var response = HTTPResponse.json(json, status: status)
        for (name, value) in headers { response.headers[name] = value }
        return response
    }

    /// 400 `bad_request` with `message`.
    public static func badRequest(_ message: String) -> HTTPError {
        HTTPError(status: 400, code: .badRequest, message: message)
    }

    /// 401 `unauthorized`, with `WWW-Authenticate: Bearer`.
    public static func unauthorized(
        _ message: String = "this server requires an API key: send the header 'Authorization: Bearer <key>'"
    ) -> HTTPError {
        HTTPError(status: 401, code: .unauthorized, message: message, headers: ["WWW-Authenticate": "Bearer"])
    }

    /// 404 `not_found` with `message`.
    public static func notFound(_ message: String) -> HTTPError {
        HTTPError(status: 404, code: .notFound, message: message)
    }

    /// 405 `method_not_allowed` for `method` on `path`, with `Allow` listing `allowed`.
    public static func methodNotAllowed(_ method: HTTPMethod, path: String, allowed: [HTTPMethod]) -> HTTPError {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        return HTTPError(
            status: 405, code: .methodNotAllowed, message: "\(path) does not accept \(method.rawValue); use \(list)",
            headers: ["Allow": list])
    }

    /// 413 `payload_too_large` for a body over `limit` bytes.
    public static func payloadTooLarge(limit: Int) -> HTTPError {
        HTTPError(
            status: 413, code: .payloadTooLarge,
            message: "the request body is larger than this server accepts (\(limit) bytes); send a smaller one")
    }

    /// 429 `too_many_requests` with `Retry-After: retryAfter` (seconds).
    public static func tooManyRequests(_ message: String, retryAfter: Int) -> HTTPError {
        HTTPError(status: 429, code: .tooManyRequests, message: message, headers: ["Retry-After": String(retryAfter)])
    }

    /// 500 `internal`: the server failed; `message` must not reveal internals.
    public static func internalError(_ message: String = "internal server error; the server log has the details")
        -> HTTPError
    {
        HTTPError(status: 500, code: .internalError, message: message)
    }

    /// 503 `unavailable` with `message` and, when given, `Retry-After` (seconds).
    public static func unavailable(_ message: String, retryAfter: Int? = nil) -> HTTPError {
        HTTPError(
            status: 503, code: .unavailable, message: message,
            headers: retryAfter.map { ["Retry-After": String($0)] } ?? [:])
    }
}

/// The server could not start: which address, what went wrong, what to do.
public struct HTTPServerError: UserFacingError, Sendable {
    /// The whole message for the user.
    public var message: String

    /// An error with `message`.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
