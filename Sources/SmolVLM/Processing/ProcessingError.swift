// The error thrown by SmolVLM's preprocessing (config files that cannot be read or make no sense).

import VigilCore

/// A preprocessing config problem, worded for the person running Vigil: which file or key, what is wrong, what to do.
public struct ProcessingError: UserFacingError, Equatable {
    /// The full explanation.
    public let message: String

    /// Wraps `message`.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
