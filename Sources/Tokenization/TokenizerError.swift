// The one error type of the Tokenization module: a tokenizer file or GGUF vocabulary that cannot be loaded.

import VigilCore

/// A tokenizer that cannot be loaded: which file (or GGUF key), what is wrong, and what to do about it.
public struct TokenizerError: UserFacingError {
    /// What kind of problem this is; new codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: Hashable, Sendable {
            case unreadableFile, malformedFile, unsupportedConfiguration, inconsistentVocabulary
        }
        private let kind: Kind

        /// The file could not be read from disk.
        public static let unreadableFile = Code(kind: .unreadableFile)
        /// The file is not valid JSON or a key has the wrong type.
        public static let malformedFile = Code(kind: .malformedFile)
        /// The tokenizer uses a model, normalizer, pre-tokenizer, decoder or option this implementation lacks.
        public static let unsupportedConfiguration = Code(kind: .unsupportedConfiguration)
        /// Vocabulary, merges and added tokens contradict each other (a merge names an unknown token, clashing ids).
        public static let inconsistentVocabulary = Code(kind: .inconsistentVocabulary)

        public var description: String {
            switch kind {
            case .unreadableFile: "unreadable file"
            case .malformedFile: "malformed file"
            case .unsupportedConfiguration: "unsupported configuration"
            case .inconsistentVocabulary: "inconsistent vocabulary"
            }
        }
    }

    /// The kind of problem.
    public var code: Code
    /// The full explanation: the file or key, what is wrong and what to do.
    public var message: String
    /// The error that caused this one, if any (e.g. the file system or JSON parser error).
    public var underlying: (any Error)?

    /// Creates an error with its full explanation.
    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        guard let underlying else { return message }
        return "\(message) (\(underlying))"
    }
}
