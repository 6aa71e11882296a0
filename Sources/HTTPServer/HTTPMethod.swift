// The request method, as an open set of names (RFC 9110 §9) with constants for the common ones.

/// An HTTP request method (`GET`, `POST`, ...), compared exactly (methods are case-sensitive).
public struct HTTPMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The method name as sent on the request line.
    public let rawValue: String

    /// The method named `rawValue`.
    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// The method named `name`.
    public init(_ name: String) {
        rawValue = name
    }

    public var description: String { rawValue }

    /// `GET`.
    public static let get = HTTPMethod("GET")
    /// `HEAD` (answered by the `GET` route when there is no `HEAD` route; the body is not sent).
    public static let head = HTTPMethod("HEAD")
    /// `POST`.
    public static let post = HTTPMethod("POST")
    /// `PUT`.
    public static let put = HTTPMethod("PUT")
    /// `PATCH`.
    public static let patch = HTTPMethod("PATCH")
    /// `DELETE`.
    public static let delete = HTTPMethod("DELETE")
    /// `OPTIONS`.
    public static let options = HTTPMethod("OPTIONS")
}
