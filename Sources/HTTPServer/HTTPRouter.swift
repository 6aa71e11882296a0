// Routing: a method plus a path pattern per handler. Patterns are literal segments, `{name}` parameters (one
// non-empty segment each) and an optional trailing `*` (the rest of the path, possibly empty), e.g.
// `/v1/sources/{id}/events` or `/ui/*`. The most specific pattern wins whatever the order of registration: at the
// first segment where two patterns differ, a literal beats a parameter and a parameter beats `*`. A path that some
// pattern matches with another method is a 405 (with `Allow`); no match at all is a 404. `HEAD` falls back to the
// `GET` route. Empty segments are ignored (`/a//b/` is `/a/b`).

/// Answers one request. Runs on Swift concurrency (never on a network thread); may run concurrently with others.
public typealias HTTPHandler = @Sendable (HTTPRequest) async throws -> HTTPResponse

/// The routes of a server: which handler answers which method and path.
public struct HTTPRouter: Sendable {
    struct Route: Sendable {
        enum Segment: Sendable, Equatable {
            case literal(String)
            case parameter(String)
            case rest
        }

        let method: HTTPMethod
        let pattern: String
        let segments: [Segment]
        let handler: HTTPHandler

        /// Ordering key: lower is more specific (literal 0, parameter 1, rest 2, segment by segment).
        var rank: [Int] {
            segments.map {
                switch $0 {
                case .literal: 0
                case .parameter: 1
                case .rest: 2
                }
            }
        }

        /// The parameters when `path` matches the pattern, else nil.
        func match(_ path: [Substring]) -> [String: String]? {
            var parameters: [String: String] = [:]
            for (i, segment) in segments.enumerated() {
                switch segment {
                case .literal(let text):
                    guard i < path.count, path[i] == text else { return nil }
                case .parameter(let name):
                    guard i < path.count else { return nil }
                    parameters[name] = String(path[i])
                case .rest:
                    parameters["*"] = path[i...].joined(separator: "/")
                    return parameters
                }
            }
            return path.count == segments.count ? parameters : nil
        }
    }

    /// What a method and path resolve to.
    enum Resolution: Sendable {
        case found(HTTPHandler, parameters: [String: String])
        case methodNotAllowed([HTTPMethod])
        case notFound
    }

    private(set) var routes: [Route] = []

    /// A router with no routes.
    public init() {}

    /// Routes `method` requests whose path matches `pattern` to `handler`. A malformed pattern (not starting with
    /// `/`, an empty or unclosed `{}`, `*` before the end, a parameter name used twice) is a programmer error.
    public mutating func add(_ method: HTTPMethod, _ pattern: String, _ handler: @escaping HTTPHandler) {
        precondition(pattern.hasPrefix("/"), "route pattern \(pattern) must start with /")
        let parts = pattern.split(separator: "/")
        var segments: [Route.Segment] = []
        var names: Set<String> = []
        for (i, part) in parts.enumerated() {
            if part == "*" {
                precondition(i == parts.count - 1, "route pattern \(pattern): * must be the last segment")
                segments.append(.rest)
            } else if part.hasPrefix("{") {
                precondition(part.hasSuffix("}") && part.count > 2, "route pattern \(pattern): bad parameter \(part)")
                let name = String(part.dropFirst().dropLast())
                precondition(names.insert(name).inserted, "route pattern \(pattern): parameter \(name) used twice")
                segments.append(.parameter(name))
            } else {
                precondition(
                    !part.contains("{") && !part.contains("}"), "route pattern \(pattern): bad segment \(part)")
                segments.append(.literal(String(part)))
            }
        }
        let route = Route(method: method, pattern: pattern, segments: segments, handler: handler)
        precondition(
            !routes.contains { $0.method == method && $0.segments == segments },
            "route \(method) \(pattern) is registered twice")
        // Keep routes sorted most specific first (stable for equal ranks), so the first match is the best.
        let rank = route.rank
        let index = routes.firstIndex { rank.lexicographicallyPrecedes($0.rank) } ?? routes.count
        routes.insert(route, at: index)
    }

    /// Routes `GET` (and so `HEAD`) requests for `pattern` to `handler`.
    public mutating func get(_ pattern: String, _ handler: @escaping HTTPHandler) { add(.get, pattern, handler) }

    /// Routes `POST` requests for `pattern` to `handler`.
    public mutating func post(_ pattern: String, _ handler: @escaping HTTPHandler) { add(.post, pattern, handler) }

    /// Routes `PUT` requests for `pattern` to `handler`.
    public mutating func put(_ pattern: String, _ handler: @escaping HTTPHandler) { add(.put, pattern, handler) }

    /// Routes `DELETE` requests for `pattern` to `handler`.
    public mutating func delete(_ pattern: String, _ handler: @escaping HTTPHandler) { add(.delete, pattern, handler) }

    /// The handler and parameters for `method` on `path` (percent-decoded, without query), or why there is none.
    func resolve(_ method: HTTPMethod, _ path: String) -> Resolution {
        let segments = path.split(separator: "/")
        var allowed: [HTTPMethod] = []
        for route in routes {
            guard let parameters = route.match(segments) else { continue }
            if route.method == method || (method == .head && route.method == .get) {
                return .found(route.handler, parameters: parameters)
            }
            if !allowed.contains(route.method) { allowed.append(route.method) }
        }
        if let get = allowed.firstIndex(of: .get), !allowed.contains(.head) { allowed.insert(.head, at: get + 1) }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed)
    }
}
