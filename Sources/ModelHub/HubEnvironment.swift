// Where models come from and where they are kept: the hub endpoint, the access token, whether the network may be
// used, and the cache root. Read from the same environment variables as huggingface_hub, so Vigil and the Python
// tools share one cache:
//
//   HF_ENDPOINT        hub endpoint (default https://huggingface.co)
//   HF_TOKEN           access token, sent as `Authorization: Bearer …` to the endpoint only
//                      (else the token file: HF_TOKEN_PATH, else $HF_HOME/token, as `hf auth login` writes it)
//   HF_HUB_OFFLINE     1/ON/YES/TRUE: never touch the network (also `--offline`)
//   HF_HUB_CACHE       cache root; else $HF_HOME/hub; else $XDG_CACHE_HOME/huggingface/hub;
//                      else ~/.cache/huggingface/hub (also `--cache-dir`, which wins)
//
// Tests build a `HubEnvironment` from an injected dictionary instead of mutating the process environment.

import Foundation

/// The hub endpoint, token, offline switch and cache root for resolving models.
public struct HubEnvironment: Sendable {
    /// The hub's base URL (`https://huggingface.co`), without a trailing slash.
    public var endpoint: URL
    /// The access token, if any; sent only to the endpoint's own origin.
    public var token: String?
    /// When true, nothing is downloaded: models must already be in the cache.
    public var offline: Bool
    /// The cache root holding `models--org--name` folders.
    public var cacheRoot: URL

    /// The default hub endpoint.
    public static let defaultEndpoint = URL(string: "https://huggingface.co")!

    /// An environment with every value given.
    public init(endpoint: URL = defaultEndpoint, token: String? = nil, offline: Bool = false, cacheRoot: URL) {
        self.endpoint = endpoint
        self.token = token
        self.offline = offline
        self.cacheRoot = cacheRoot
    }

    /// Reads the environment variables above from `environment` (the process environment by default), then
    /// applies the command-line overrides: `cacheDirectory` (`--cache-dir`) and `offline` (`--offline`, which can
    /// only switch downloads off). Relative paths are taken from `currentDirectory`.
    public static func fromProcess(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        cacheDirectory: String? = nil,
        offline: Bool = false,
        currentDirectory: String = FileManager.default.currentDirectoryPath
    ) throws(HubError) -> HubEnvironment {
        func value(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }
        let home = value("HOME") ?? FileManager.default.homeDirectoryForCurrentUser.path
        func path(_ text: String) -> URL {
            var text = text
            if text == "~" {
                text = home
            } else if text.hasPrefix("~/") {
                text = home + text.dropFirst(1)
            }
            if !text.hasPrefix("/") { text = currentDirectory + "/" + text }
            return URL(fileURLWithPath: text).standardizedFileURL
        }

        let hfHome: URL
        if let text = value("HF_HOME") {
            hfHome = path(text)
        } else {
            hfHome = path(value("XDG_CACHE_HOME") ?? "~/.cache").appendingPathComponent("huggingface")
        }
        let cacheRoot =
            cacheDirectory.map(path) ?? value("HF_HUB_CACHE").map(path) ?? value("HUGGINGFACE_HUB_CACHE").map(path)
            ?? hfHome.appendingPathComponent("hub")

        var endpoint = defaultEndpoint
        if let text = value("HF_ENDPOINT") {
            var trimmed = text
            while trimmed.hasSuffix("/") { trimmed.removeLast() }
            guard let url = URL(string: trimmed), let scheme = url.scheme?.lowercased(),
                scheme == "http" || scheme == "https", url.host != nil
            else {
                throw HubError(
                    .invalidInput,
                    "HF_ENDPOINT '\(text)' is not an http(s) URL: set it to a hub endpoint such as "
                        + "https://huggingface.co, or unset it")
            }
            endpoint = url
        }

        var token = value("HF_TOKEN") ?? value("HUGGING_FACE_HUB_TOKEN")
        if token == nil {
            let tokenFile = value("HF_TOKEN_PATH").map(path) ?? hfHome.appendingPathComponent("token")
            if let text = try? String(contentsOf: tokenFile, encoding: .utf8) {
                let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
                if !trimmed.isEmpty { token = trimmed }
            }
        }

        return HubEnvironment(
            endpoint: endpoint, token: token, offline: offline || isTrue(value("HF_HUB_OFFLINE")),
            cacheRoot: cacheRoot)
    }

    /// huggingface_hub's reading of boolean variables: 1, ON, YES, TRUE (any case).
    static func isTrue(_ text: String?) -> Bool {
        guard let text else { return false }
        return ["1", "ON", "YES", "TRUE"].contains(text.uppercased())
    }
}
