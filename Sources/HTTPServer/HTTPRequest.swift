// One request as a handler sees it: method, percent-decoded path, query, headers, the whole body, and the values of
// the route's `{parameters}`. Built by the server on its network thread before the handler runs; a plain value, so
// handlers can also be called directly in tests.

import Foundation

/// An HTTP request, complete with its body.
public struct HTTPRequest: Sendable {
    /// The request method.
    public var method: HTTPMethod
    /// The path, percent-decoded, without the query (`/v1/sources/cam1/events`).
    public var path: String
    /// The query parameters, percent-decoded.
    public var query: HTTPQuery
    /// The header fields (case-insensitive lookup).
    public var headers: HTTPHeaders
    /// The body (empty when there is none); never larger than the configured limit.
    public var body: Data
    /// The values of the matched route's parameters: `{id}` → `pathParameters["id"]`; a trailing `*` → `["*"]`.
    public var pathParameters: [String: String]

    /// A request with these parts (the server builds them; tests may too).
    public init(
        method: HTTPMethod, path: String, query: HTTPQuery = HTTPQuery(), headers: HTTPHeaders = [:],
        body: Data = Data(), pathParameters: [String: String] = [:]
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.pathParameters = pathParameters
    }

    /// The `Last-Event-ID` header an SSE client sends when it reconnects, or nil.
    public var lastEventID: String? { headers["Last-Event-ID"] }

    /// The body decoded as JSON into `type`. Throws a 400 `HTTPError` naming the problem (not JSON, nested deeper
    /// than `maxDepth` arrays/objects, larger than `maxBytes`, a missing field or a field of the wrong type).
    public func decodeJSON<T: Decodable>(
        _ type: T.Type = T.self, maxDepth: Int = 64, maxBytes: Int? = nil
    ) throws(HTTPError) -> T {
        if let maxBytes, body.count > maxBytes { throw .payloadTooLarge(limit: maxBytes) }
        guard !body.isEmpty else { throw .badRequest("the request has no body; send a JSON object") }
        if let problem = JSONShape.depthProblem(body, maxDepth: maxDepth) { throw .badRequest(problem) }
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch let error as DecodingError {
            throw .badRequest(JSONShape.describe(error))
        } catch {
            throw .badRequest("the request body is not valid JSON")
        }
    }
}

/// Checks done on JSON text before decoding it, and readable decoding errors.
enum JSONShape {
    /// Why `body` nests deeper than `maxDepth`, or nil when it does not. Brackets inside strings are skipped.
    static func depthProblem(_ body: Data, maxDepth: Int) -> String? {
        var depth = 0
        var inString = false
        var escaped = false
        for byte in body {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > maxDepth {
                    return "the request body nests arrays and objects deeper than \(maxDepth) levels"
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return nil
    }

    /// A message for a decoding failure that names the field (`messages[0].content`) and the problem.
    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let context):
            return "the request body lacks the field '\(path(context.codingPath + [key]))'"
        case .typeMismatch(let type, let context):
            return "field '\(path(context.codingPath))' of the request body must be \(jsonKind(type))"
        case .valueNotFound(let type, let context):
            return "field '\(path(context.codingPath))' of the request body must be \(jsonKind(type)), not null"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "the request body is not valid JSON" }
            return "field '\(path(context.codingPath))' of the request body: \(context.debugDescription)"
        @unknown default:
            return "the request body could not be decoded"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let index = key.intValue {
                out += "[\(index)]"
            } else {
                if !out.isEmpty { out += "." }
                out += key.stringValue
            }
        }
        return out.isEmpty ? "(top level)" : out
    }

    private static func jsonKind(_ type: Any.Type) -> String {
        let name = String(describing: type)
        if name.hasPrefix("String") { return "a string" }
        if name.hasPrefix("Bool") { return "true or false" }
        if ["Int", "Double", "Float", "UInt"].contains(where: { name.hasPrefix($0) }) { return "a number" }
        if name.hasPrefix("Array") { return "an array" }
        if name.hasPrefix("Dictionary") { return "an object" }
        return "of another type"
    }
}
