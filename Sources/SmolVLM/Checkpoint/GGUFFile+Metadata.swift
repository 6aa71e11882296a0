// Typed access to GGUF metadata: a missing key or a value of the wrong type throws a `GGUFError` naming the key,
// the file and what was expected.

extension GGUFFile {
    /// The string at `key`; throws if it is missing or not a string.
    public func requiredString(_ key: String) throws -> String {
        guard let value = try optionalString(key) else { throw missing(key, "a string") }
        return value
    }

    /// The string at `key`, or nil if absent; throws if it is not a string.
    public func optionalString(_ key: String) throws -> String? {
        try typed(key, "a string") { $0.string }
    }

    /// The integer (any integer type) at `key`; throws if it is missing or not an integer.
    public func requiredInteger(_ key: String) throws -> Int {
        guard let value = try optionalInteger(key) else { throw missing(key, "an integer") }
        return value
    }

    /// The integer (any integer type) at `key`, or nil if absent; throws if it is not an integer.
    public func optionalInteger(_ key: String) throws -> Int? {
        try typed(key, "an integer") { $0.integer }
    }

    /// The float (float32 or float64) at `key`; throws if it is missing or not a float.
    public func requiredFloat(_ key: String) throws -> Double {
        guard let value = try optionalFloat(key) else { throw missing(key, "a float") }
        return value
    }

    /// The float (float32 or float64) at `key`, or nil if absent; throws if it is not a float.
    public func optionalFloat(_ key: String) throws -> Double? {
        try typed(key, "a float") { $0.float }
    }

    /// The bool at `key`, or nil if absent; throws if it is not a bool.
    public func optionalBool(_ key: String) throws -> Bool? {
        try typed(key, "a bool") { $0.bool }
    }

    /// The array of strings at `key`; throws if it is missing or not an array of strings.
    public func requiredStrings(_ key: String) throws -> [String] {
        guard let value = try optionalStrings(key) else { throw missing(key, "an array of strings") }
        return value
    }

    /// The array of strings at `key`, or nil if absent; throws if it is not an array of strings.
    public func optionalStrings(_ key: String) throws -> [String]? {
        try typed(key, "an array of strings") { $0.strings }
    }

    /// The array of integers at `key`, or nil if absent; throws if it is not an array of integers.
    public func optionalIntegers(_ key: String) throws -> [Int]? {
        try typed(key, "an array of integers") { $0.integers }
    }

    private func typed<T>(_ key: String, _ expected: String, _ convert: (GGUFValue) -> T?) throws -> T? {
        guard let value = metadata[key] else { return nil }
        guard let result = convert(value) else {
            throw GGUFError(
                .invalidValue, path: url.path,
                "metadata key '\(key)' is \(value.typeDescription), expected \(expected); the file was written by a "
                    + "converter Vigil does not know or is damaged")
        }
        return result
    }

    private func missing(_ key: String, _ expected: String) -> GGUFError {
        GGUFError(
            .missingKey, path: url.path,
            "metadata key '\(key)' (\(expected)) is missing; the file does not describe a complete model, convert it "
                + "again with a current llama.cpp")
    }
}
