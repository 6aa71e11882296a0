// One-line accounts of JSON decoding errors, naming the key path, for every config file the runtime reads.

/// What went wrong, and at which key ("text_config.hidden_size should be Int", "vision_config is missing").
func describeDecodingError(_ error: DecodingError) -> String {
    func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    switch error {
    case .dataCorrupted(let context):
        if context.codingPath.isEmpty {
            return "not valid JSON (\(context.underlyingError.map { "\($0)" } ?? context.debugDescription))"
        }
        return "\(path(context.codingPath)): \(context.debugDescription)"
    case .keyNotFound(let key, let context):
        return "required key \(path(context.codingPath + [key])) is missing"
    case .typeMismatch(let type, let context):
        return "\(path(context.codingPath)) should be \(type)"
    case .valueNotFound(let type, let context):
        return "\(path(context.codingPath)) should be a \(type), found null"
    @unknown default:
        return "\(error)"
    }
}
