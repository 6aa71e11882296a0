// A stand-in for the Hugging Face hub on two loopback ports, speaking the protocol ModelHub relies on:
//
//   hub:  HEAD/GET /{org}/{name}/resolve/{revision}/{file}
//           small files: 200 with ETag (a git-style id), X-Repo-Commit, Content-Length
//           files in `viaResolveCache`: 307 with a relative Location to /api/resolve-cache/models/…/{commit}/{file}
//           LFS files: 302 to the CDN port (absolute Location), with X-Linked-Etag (the SHA-256), X-Linked-Size,
//           X-Repo-Commit on the redirect itself, and an ETag/Content-Length of the redirect that must be ignored
//           unknown repo: 401 X-Error-Code RepoNotFound; private repo with a bad token: 401 "Invalid credentials";
//           gated repo: 403 GatedRepo; unknown revision: 404 RevisionNotFound; unknown file: 404 EntryNotFound
//         GET /api/models/{org}/{name}/revision/{revision} → {"id", "sha", "siblings": [{"rfilename"}]}
//   cdn:  GET /blobs/{sha256}?sig=… with Range support (206, 416); optionally cuts the first full transfer short,
//         corrupts bytes, or holds the transfer until a condition is met (to make two downloaders overlap, or to
//         cancel a download in flight).

import Foundation
import Synchronization
import TestSupport
import VigilCrypto

@testable import ModelHub

/// A fake hub serving tiny repositories on loopback ports.
final class FakeHub: Sendable {
    /// One file of a repository.
    struct File: Sendable {
        var path: String
        var data: Data
        /// Stored in LFS: served through a redirect to the CDN port, etag = SHA-256.
        var lfs: Bool
        /// The etag the hub announces (normalized): the SHA-256 for LFS files, a git-like 40-hex id otherwise.
        let etag: String

        init(_ path: String, _ data: Data, lfs: Bool = false) {
            self.path = path
            self.data = data
            self.lfs = lfs
            etag = lfs ? sha256Hex(data) : String(sha256Hex(Data("blob \(data.count)\0".utf8) + data).prefix(40))
        }

        init(_ path: String, text: String) {
            self.init(path, Data(text.utf8))
        }
    }

    /// One repository at one commit.
    struct Repo: Sendable {
        var id: String
        var commit: String
        var files: [File]
        /// Branches and tags → commit.
        var refs: [String: String]
        /// When set, requests must carry `Authorization: Bearer <token>`.
        var token: String?
        /// Answers 403 GatedRepo.
        var gated: Bool

        init(id: String, files: [File], refs: [String] = ["main"], token: String? = nil, gated: Bool = false) {
            let commit = String(sha256Hex(Data(id.utf8)).prefix(40))
            self.id = id
            self.commit = commit
            self.files = files
            self.refs = Dictionary(uniqueKeysWithValues: refs.map { ($0, commit) })
            self.token = token
            self.gated = gated
        }

        func file(_ path: String) -> File? { files.first { $0.path == path } }
    }

    /// Behaviour switches, changeable while the hub runs.
    struct Options: Sendable {
        /// Cut the first full (non-range) CDN transfer of each LFS blob short after a third of its bytes.
        var cutFirstTransfer = false
        /// Serve these LFS blobs (by SHA-256) with a flipped byte.
        var corrupt: Set<String> = []
        /// Files answered through a relative redirect to /api/resolve-cache/….
        var viaResolveCache: Set<String> = []
        /// Hold each CDN transfer until this many HEADs of the same file reached the hub (at most 10 s).
        var holdTransfersUntilHeads = 0
        /// Hold each CDN transfer while this is true (at most 10 s).
        var holdTransfers = false
    }

    let hub: LoopbackHTTPServer
    let cdn: LoopbackHTTPServer
    let repos: [Repo]
    private let state: Mutex<(options: Options, cut: Set<String>)>
    private let handlers = Handlers()

    init(repos: [Repo], options: Options = Options()) throws {
        let handlers = self.handlers
        cdn = try LoopbackHTTPServer { request in handlers.cdn.withLock { $0 }!(request) }
        hub = try LoopbackHTTPServer { request in handlers.hub.withLock { $0 }!(request) }
        self.repos = repos
        self.state = Mutex((options: options, cut: Set<String>()))
        let cdnURL = cdn.baseURL
        // The handlers hold the hub strongly until `stop()` lets go of them.
        handlers.hub.withLock { $0 = { request in self.answerHub(request, cdnURL: cdnURL) } }
        handlers.cdn.withLock { $0 = { request in self.answerCDN(request) } }
    }

    /// Stops both servers (call it: the servers' handlers keep the fake hub alive until then).
    func stop() {
        hub.stop()
        cdn.stop()
        handlers.hub.withLock { $0 = nil }
        handlers.cdn.withLock { $0 = nil }
    }

    /// Changes the behaviour switches.
    func configure(_ change: (inout Options) -> Void) {
        state.withLock { change(&$0.options) }
    }

    /// An environment pointing at this hub.
    func environment(cacheRoot: URL, token: String? = nil, offline: Bool = false) -> HubEnvironment {
        HubEnvironment(endpoint: hub.baseURL, token: token, offline: offline, cacheRoot: cacheRoot)
    }

    /// HEAD requests the hub has seen for `file` (any repository, any revision).
    func heads(of file: String) -> Int {
        hub.requests.filter { $0.method == "HEAD" && $0.path.hasSuffix("/" + file) }.count
    }

    /// All requests both servers have seen.
    var requestCount: Int { hub.requests.count + cdn.requests.count }

    private var options: Options { state.withLock { $0.options } }

    // MARK: - Hub

    private func answerHub(_ request: LoopbackHTTPServer.Request, cdnURL: URL) -> LoopbackHTTPServer.Response {
        let segments = request.path.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
        // /api/models/{org}/{name}/revision/{revision}
        if segments.count == 6, segments[0] == "api", segments[1] == "models", segments[4] == "revision" {
            return answerModelInfo(repoID: segments[2] + "/" + segments[3], revision: segments[5], request)
        }
        // /api/resolve-cache/models/{org}/{name}/{commit}/{file…}
        if segments.count >= 7, segments[0] == "api", segments[1] == "resolve-cache", segments[2] == "models" {
            let repoID = segments[3] + "/" + segments[4]
            guard let repo = repos.first(where: { $0.id == repoID }), segments[5] == repo.commit,
                let file = repo.file(segments[6...].joined(separator: "/"))
            else { return .init(status: 404, headers: [("X-Error-Code", "EntryNotFound")]) }
            return serveSmall(file, repo: repo)
        }
        // /{org}/{name}/resolve/{revision}/{file…}
        guard segments.count >= 5, segments[2] == "resolve" else { return .text("no such page", status: 404) }
        let repoID = segments[0] + "/" + segments[1]
        let filePath = segments[4...].joined(separator: "/")
        guard let repo = repos.first(where: { $0.id == repoID }) else { return repoNotFound() }
        if let refusal = checkAccess(repo, request) { return refusal }
        let revision = segments[3]
        guard revision == repo.commit || repo.refs[revision] != nil else {
            return .init(
                status: 404, headers: [("X-Error-Code", "RevisionNotFound"), ("X-Error-Message", "Invalid rev id")])
        }
        guard let file = repo.file(filePath) else {
            return .init(
                status: 404,
                headers: [
                    ("X-Error-Code", "EntryNotFound"), ("X-Error-Message", "Entry not found"),
                    ("X-Repo-Commit", repo.commit),
                ])
        }
        if file.lfs {
            let location = cdnURL.absoluteString + "/blobs/\(file.etag)?sig=\(repo.commit.prefix(8))"
            return .init(
                status: 302,
                headers: [
                    ("Location", location), ("X-Repo-Commit", repo.commit), ("X-Linked-Etag", "\"\(file.etag)\""),
                    ("X-Linked-Size", String(file.data.count)), ("ETag", "W/\"pointer-\(repo.commit.prefix(8))\""),
                ],
                body: Data("Found. Redirecting to \(location)".utf8))
        }
        if options.viaResolveCache.contains(file.path) {
            return .init(
                status: 307,
                headers: [
                    ("Location", "/api/resolve-cache/models/\(repo.id)/\(repo.commit)/\(file.path)"),
                    ("X-Repo-Commit", repo.commit),
                ],
                body: Data("Temporary Redirect".utf8))
        }
        return serveSmall(file, repo: repo)
    }

    private func serveSmall(_ file: File, repo: Repo) -> LoopbackHTTPServer.Response {
        .init(
            status: 200,
            headers: [
                ("ETag", "\"\(file.etag)\""), ("X-Repo-Commit", repo.commit),
                ("Content-Type", "application/octet-stream"),
            ],
            body: file.data)
    }

    private func answerModelInfo(repoID: String, revision: String, _ request: LoopbackHTTPServer.Request)
        -> LoopbackHTTPServer.Response
    {
        guard let repo = repos.first(where: { $0.id == repoID }) else { return repoNotFound() }
        if let refusal = checkAccess(repo, request) { return refusal }
        guard revision == repo.commit || repo.refs[revision] != nil else {
            return .init(status: 404, headers: [("X-Error-Code", "RevisionNotFound")])
        }
        let siblings = repo.files.map { "{\"rfilename\":\"\($0.path)\"}" }.joined(separator: ",")
        let json = "{\"id\":\"\(repo.id)\",\"sha\":\"\(repo.commit)\",\"private\":false,\"siblings\":[\(siblings)]}"
        return .init(status: 200, headers: [("Content-Type", "application/json")], body: Data(json.utf8))
    }

    private func repoNotFound() -> LoopbackHTTPServer.Response {
        .init(
            status: 401,
            headers: [("X-Error-Code", "RepoNotFound"), ("X-Error-Message", "Repository not found")],
            body: Data("{\"error\":\"Repository not found\"}".utf8))
    }

    private func checkAccess(_ repo: Repo, _ request: LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Response? {
        if repo.gated {
            return .init(
                status: 403,
                headers: [
                    ("X-Error-Code", "GatedRepo"), ("X-Error-Message", "Access to model \(repo.id) is restricted."),
                ])
        }
        guard let token = repo.token else { return nil }
        switch request.header("Authorization") {
        case "Bearer \(token)": return nil
        case nil: return repoNotFound()
        default:
            return .init(status: 401, headers: [("X-Error-Message", "Invalid credentials in Authorization header")])
        }
    }

    // MARK: - CDN

    private func answerCDN(_ request: LoopbackHTTPServer.Request) -> LoopbackHTTPServer.Response {
        let segments = request.path.split(separator: "/").map(String.init)
        guard segments.count == 2, segments[0] == "blobs",
            let file = repos.lazy.flatMap(\.files).first(where: { $0.lfs && $0.etag == segments[1] })
        else { return .text("NoSuchKey", status: 404) }
        let options = self.options
        let deadline = Date().addingTimeInterval(10)
        while heads(of: file.path) < options.holdTransfersUntilHeads && Date() < deadline { usleep(5000) }
        while self.options.holdTransfers && Date() < deadline { usleep(5000) }
        var data = file.data
        if options.corrupt.contains(file.etag) { data[data.count / 2] ^= 0xFF }
        if let range = request.header("Range") {
            guard range.hasPrefix("bytes="), range.hasSuffix("-"), let start = Int(range.dropFirst(6).dropLast())
            else { return .text("bad range", status: 400) }
            guard start < data.count else {
                return .init(status: 416, headers: [("Content-Range", "bytes */\(data.count)")])
            }
            return .init(
                status: 206, headers: [("Content-Range", "bytes \(start)-\(data.count - 1)/\(data.count)")],
                body: data[start...])
        }
        let cutNow = state.withLock { state in
            guard state.options.cutFirstTransfer, !state.cut.contains(file.etag) else { return false }
            state.cut.insert(file.etag)
            return true
        }
        return .init(status: 200, body: data, truncatedAfter: cutNow ? data.count / 3 : nil)
    }
}

/// The two servers' handlers, set once the fake hub exists (they call back into it).
private final class Handlers: Sendable {
    let hub = Mutex<LoopbackHTTPServer.Handler?>(nil)
    let cdn = Mutex<LoopbackHTTPServer.Handler?>(nil)
}

/// SHA-256 of `data` as 64 hex digits.
func sha256Hex(_ data: Data) -> String {
    var hasher = SHA256()
    hasher.update(data)
    return hasher.hexDigest()
}
