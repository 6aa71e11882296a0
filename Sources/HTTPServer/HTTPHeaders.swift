// Header fields and query parameters of a request or response: ordered lists of name/value pairs, looked up by name
// case-insensitively for headers (RFC 9110 §5.1) and exactly for query parameters.

/// HTTP header fields in order, with case-insensitive lookup by name.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral {
    /// The fields in the order they were received or added.
    public private(set) var fields: [(name: String, value: String)]

    /// Headers with `fields`, in order.
    public init(_ fields: [(name: String, value: String)] = []) {
        self.fields = fields
    }

    /// Headers from a literal, in the literal's order: `["Cache-Control": "no-cache"]`.
    public init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { (name: $0.0, value: $0.1) }
    }

    /// The first value of header `name` (any case); setting replaces every field of that name, nil removes them.
    public subscript(name: String) -> String? {
        get { fields.first { Self.namesEqual($0.name, name) }?.value }
        set {
            fields.removeAll { Self.namesEqual($0.name, name) }
            if let newValue { fields.append((name: name, value: newValue)) }
        }
    }

    /// Every value of header `name` (any case), in order.
    public func values(for name: String) -> [String] {
        fields.filter { Self.namesEqual($0.name, name) }.map(\.value)
    }

    /// Whether a header `name` (any case) is present.
    public func contains(_ name: String) -> Bool {
        fields.contains { Self.namesEqual($0.name, name) }
    }

    /// Appends a field, keeping any others of the same name.
    public mutating func add(_ name: String, _ value: String) {
        fields.append((name: name, value: value))
    }

    /// The number of fields.
    public var count: Int { fields.count }

    /// Iterates the fields in order.
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    /// ASCII case-insensitive equality of two header names, without allocating.
    static func namesEqual(_ a: String, _ b: String) -> Bool {
        var i = a.utf8.makeIterator()
        var j = b.utf8.makeIterator()
        while true {
            switch (i.next(), j.next()) {
            case (nil, nil): return true
            case (let x?, let y?):
                if x == y { continue }
                let lx = x >= 65 && x <= 90 ? x | 0x20 : x
                let ly = y >= 65 && y <= 90 ? y | 0x20 : y
                if lx != ly { return false }
            default: return false
            }
        }
    }
}

/// The query parameters of a request URL (`?a=1&b=x`), percent-decoded, in order.
public struct HTTPQuery: Sendable, Sequence {
    /// The parameters in URL order; a parameter without `=` has an empty value.
    public let items: [(name: String, value: String)]

    /// A query of `items`.
    public init(_ items: [(name: String, value: String)] = []) {
        self.items = items
    }

    /// The first value of parameter `name` (exact match), or nil.
    public subscript(name: String) -> String? {
        items.first { $0.name == name }?.value
    }

    /// Every value of parameter `name`, in order.
    public func values(for name: String) -> [String] {
        items.filter { $0.name == name }.map(\.value)
    }

    /// Whether there are no parameters.
    public var isEmpty: Bool { items.isEmpty }

    /// Iterates the parameters in order.
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        items.makeIterator()
    }
}
