// The one error type of the GGUF reader and the GGUF Llama checkpoint loader. Every message names the file, says
// what is wrong (with byte offsets, keys and tensor names where they help) and what to do about it.

import VigilCore

/// A GGUF file that cannot be read, or holds something Vigil does not support.
public struct GGUFError: UserFacingError, Equatable {
    /// What kind of problem it is (for callers and tests; the message is for people).
    public enum Code: String, Sendable, Equatable {
        /// The file could not be opened or mapped.
        case unreadable
        /// The file does not start with the GGUF magic bytes.
        case notGGUF
        /// A GGUF version other than 2 or 3, or a big-endian file.
        case unsupportedVersion
        /// The file ends before a header field, metadata value, tensor table entry or tensor data ends.
        case truncated
        /// A value that cannot be right: bad UTF-8, an unknown value type, a misaligned or overlapping offset, …
        case corrupt
        /// A tensor type the loader cannot dequantise (or a type id it does not know).
        case unsupportedTensorType
        /// A model architecture other than `llama`, or a Llama variant (rope scaling, experts) Vigil lacks.
        case unsupportedArchitecture
        /// A metadata key the loader needs is absent.
        case missingKey
        /// A metadata key has the wrong type or an impossible value.
        case invalidValue
        /// Tensors are missing, unexpected or of the wrong shape for the hyper-parameters.
        case tensorMismatch
        /// A chat template the loader does not recognise.
        case unsupportedChatTemplate
        /// A tokenizer model or pre-tokenizer the Vigil tokenizer does not implement.
        case unsupportedTokenizer
    }

    /// What kind of problem it is.
    public let code: Code
    /// The file concerned.
    public let path: String
    /// What is wrong and what to do, without the path.
    public let message: String

    /// An error about the file at `path`.
    public init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
