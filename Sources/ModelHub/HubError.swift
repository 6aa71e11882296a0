// The one error type of ModelHub. Every message names the model (repo id, folder or file), says what went wrong
// and what to do about it (set HF_TOKEN, check the name, run `vigil models pull`, unset HF_HUB_OFFLINE, ...).

import VigilCore

/// A model could not be found, parsed, read from the cache or downloaded.
public struct HubError: UserFacingError, Sendable {
    /// What kind of failure this is, for callers that react to some of them (the CLI maps all to exit 1).
    public enum Code: String, Sendable {
        /// `--model` is neither an existing path nor a hub id; or a bad revision or file name.
        case invalidInput
        /// A local model folder lacks a file, or a local file is not there.
        case missingLocalFile
        /// Downloads are off (offline) and a needed file is not in the cache.
        case notCached
        /// The hub does not know the repository (or hides it: private or gated without a token).
        case repositoryNotFound
        /// The repository has no such branch, tag or commit.
        case revisionNotFound
        /// The repository has no such file at that revision.
        case fileNotFound
        /// The hub refused the request: no token, a bad token, or a token without access (401/403).
        case accessDenied
        /// The endpoint could not be reached, or the transfer broke off too often.
        case network
        /// The server answered something a hub would not (an unexpected status, missing headers, bad JSON).
        case badResponse
        /// A downloaded file does not have the announced size or SHA-256.
        case corruptDownload
        /// The cache could not be read or written.
        case fileSystem
    }

    /// What kind of failure this is.
    public var code: Code
    /// The whole message for the user: what, where, what to do.
    public var message: String
    /// The lower-level cause, when there is one (an errno text, a URLError description).
    public var underlying: String?

    /// A hub error of kind `code` with `message`.
    public init(_ code: Code, _ message: String, underlying: String? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        guard let underlying, !underlying.isEmpty else { return message }
        return "\(message) (\(underlying))"
    }
}
