// The hub's HTTP protocol, as huggingface_hub speaks it:
//
//   HEAD {endpoint}/{org}/{name}/resolve/{revision}/{file}     Accept-Encoding: identity, no automatic redirects
//        → X-Repo-Commit (the commit the revision is at), X-Linked-Etag else ETag (the blob name), X-Linked-Size
//          else Content-Length (the size; Content-Length only on a 2xx). Large (LFS/Xet) files answer 302 to a
//          CDN with these headers on the redirect itself, which is not followed. Redirects to the same origin
//          (a renamed repository, /api/resolve-cache/…) are followed; a relative Location is resolved against
//          the request URL.
//   GET  the same URL, redirects followed by hand: the token goes to the endpoint's origin only, never to the CDN.
//   GET  {endpoint}/api/models/{org}/{name}/revision/{revision} → {"sha": …, "siblings": [{"rfilename": …}]}
//
// Errors follow the hub's X-Error-Code header (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) and the
// status; each becomes a HubError naming the repository, revision or file and what to do.

import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A file as the hub describes it at one commit.
struct RemoteFile: Sendable, Equatable {
    /// Path in the repository (`config.json`, `onnx/model.onnx`).
    var file: String
    /// The commit the revision resolved to.
    var commit: String
    /// The normalized etag: the blob's name in the cache (a SHA-256 for LFS files, a git blob id otherwise).
    var etag: String
    /// Size in bytes.
    var size: Int64
}

/// The answer to a file's HEAD.
enum FileLookup: Sendable {
    /// The file exists.
    case found(RemoteFile)
    /// The repository and revision exist but the file does not; the commit when the hub said it.
    case missing(commit: String?)
}

/// Requests to one hub endpoint with one token.
struct HubClient: Sendable {
    let environment: HubEnvironment
    let transport: HTTPTransport
    /// The most redirects followed for one request.
    static let maxRedirects = 10

    // MARK: - URLs

    /// `{endpoint}/{repo}/resolve/{revision}/{file}`, the revision encoded as one segment (`refs%2Fpr%2F1`).
    func resolveURL(repo: String, revision: String, file: String) -> URL {
        let path = file.split(separator: "/").map { Self.encode(String($0)) }.joined(separator: "/")
        return URL(string: environment.endpoint.absoluteString + "/\(repo)/resolve/\(Self.encode(revision))/\(path)")!
    }

    /// `{endpoint}/api/models/{repo}/revision/{revision}`.
    func modelInfoURL(repo: String, revision: String) -> URL {
        URL(string: environment.endpoint.absoluteString + "/api/models/\(repo)/revision/\(Self.encode(revision))")!
    }

    private static let unreserved = CharacterSet(
        charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")

    private static func encode(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: unreserved) ?? segment
    }

    // MARK: - Requests

    /// A request for `url` with the hub's headers; the token only when `url` is on the endpoint's origin.
    func request(_ url: URL, method: String = "GET") -> URLRequest {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        request.setValue("vigil", forHTTPHeaderField: "User-Agent")
        if let token = environment.token, Self.origin(url) == Self.origin(environment.endpoint) {
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        }
        return request
    }

    /// Scheme, lowercased host and port (the scheme's default when absent): what "the same server" means.
    static func origin(_ url: URL) -> String {
        let scheme = url.scheme?.lowercased() ?? ""
        let port = url.port ?? (scheme == "https" ? 443 : scheme == "http" ? 80 : 0)
        return "\(scheme)://\(url.host?.lowercased() ?? ""):\(port)"
    }

    /// Where a redirect from `url` points, or nil when it has no usable Location.
    static func redirectTarget(of response: HTTPURLResponse, from url: URL) -> URL? {
        guard (300..<400).contains(response.statusCode),
            let location = response.value(forHTTPHeaderField: "Location"), !location.isEmpty,
            let target = URL(string: location, relativeTo: url)?.absoluteURL
        else { return nil }
        return target
    }

    /// HEADs `file` at `revision` and reads its commit, etag and size.
    func lookUp(repo: String, revision: String, file: String) async throws -> FileLookup {
        var url = resolveURL(repo: repo, revision: revision, file: file)
        var response: HTTPURLResponse
        var redirects = 0
        while true {
            response = try await send(request(url, method: "HEAD"), repo: repo, what: "file '\(file)'")
            guard let target = Self.redirectTarget(of: response, from: url),
                Self.origin(target) == Self.origin(url)
            else { break }
            redirects += 1
            guard redirects <= Self.maxRedirects else {
                throw HubError(.badResponse, "too many redirects while looking up '\(file)' of '\(repo)' at \(url)")
            }
            url = target
        }
        let status = response.statusCode
        let errorCode = response.value(forHTTPHeaderField: "X-Error-Code")
        if status == 404 && (errorCode == nil || errorCode == "EntryNotFound") {
            return .missing(commit: response.value(forHTTPHeaderField: "X-Repo-Commit"))
        }
        guard (200..<400).contains(status) else {
            throw statusError(response, url: url, repo: repo, revision: revision, file: file)
        }
        guard let commit = response.value(forHTTPHeaderField: "X-Repo-Commit"), !commit.isEmpty,
            !commit.contains("/")
        else {
            throw HubError(
                .badResponse,
                "the answer from \(url) has no X-Repo-Commit header, so it does not come from a Hugging Face hub: "
                    + "check HF_ENDPOINT (\(environment.endpoint.absoluteString)) and any proxy in between")
        }
        let rawEtag = response.value(forHTTPHeaderField: "X-Linked-Etag") ?? response.value(forHTTPHeaderField: "ETag")
        guard let etag = rawEtag.map(Self.normalize(etag:)), Self.isUsableBlobName(etag) else {
            throw HubError(
                .badResponse,
                "the answer from \(url) has no usable ETag or X-Linked-Etag header, so '\(file)' of '\(repo)' "
                    + "cannot be cached: check HF_ENDPOINT and any proxy in between")
        }
        let sizeText =
            response.value(forHTTPHeaderField: "X-Linked-Size")
            ?? ((200..<300).contains(status) ? response.value(forHTTPHeaderField: "Content-Length") : nil)
        guard let size = sizeText.flatMap({ Int64($0.trimmingCharacters(in: .whitespaces)) }), size >= 0 else {
            throw HubError(
                .badResponse,
                "the answer from \(url) does not give the size of '\(file)' (no X-Linked-Size or Content-Length): "
                    + "check HF_ENDPOINT and any proxy in between")
        }
        return .found(RemoteFile(file: file, commit: commit, etag: etag, size: size))
    }

    /// huggingface_hub's `_normalize_etag`: drops a weak `W/` prefix and the quotes.
    static func normalize(etag: String) -> String {
        var text = Substring(etag.trimmingCharacters(in: .whitespaces))
        if text.hasPrefix("W/") { text = text.dropFirst(2) }
        while text.first == "\"" { text = text.dropFirst() }
        while text.last == "\"" { text = text.dropLast() }
        return String(text)
    }

    /// Whether `etag` can name a file in `blobs/`.
    static func isUsableBlobName(_ etag: String) -> Bool {
        !etag.isEmpty && etag != "." && etag != ".." && etag.count <= 200
            && !etag.contains { $0 == "/" || $0 == "\\" || $0 == "\0" || $0.isNewline }
    }

    /// Whether `etag` is a SHA-256 digest (64 lowercase hex digits), which the downloaded bytes must match.
    static func isSHA256(_ etag: String) -> Bool {
        etag.utf8.count == 64 && etag.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// GETs `url`, following redirects (relative ones too); the token is dropped as soon as the origin is not the
    /// endpoint's. `range` asks for the bytes from an offset on. The body of the final 2xx answer goes to
    /// `chooseSink`; the final response is returned whatever its status.
    func download(
        _ url: URL, from offset: Int64, repo: String, file: String,
        chooseSink: @escaping @Sendable (HTTPURLResponse) -> BodySink?
    ) async throws -> (HTTPURLResponse, URL) {
        var url = url
        for _ in 0...Self.maxRedirects {
            var request = request(url)
            if offset > 0 { request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
            let response = try await send(request, repo: repo, what: "file '\(file)'") { response in
                (200..<300).contains(response.statusCode) ? chooseSink(response) : nil
            }
            guard let target = Self.redirectTarget(of: response, from: url) else { return (response, url) }
            url = target
        }
        throw HubError(.badResponse, "too many redirects while downloading '\(file)' of '\(repo)' (last: \(url))")
    }

    /// The commit a revision is at and the files of the repository there, from the hub's model API.
    func modelInfo(repo: String, revision: String) async throws -> (commit: String, files: [String]) {
        let url = modelInfoURL(repo: repo, revision: revision)
        var request = request(url)
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        let (response, body) = try await mappingTransportErrors(repo: repo, what: "the file list") {
            try await transport.fetch(request)
        }
        guard (200..<300).contains(response.statusCode) else {
            if response.statusCode == 404, response.value(forHTTPHeaderField: "X-Error-Code") == nil {
                // The API answers a bare 404 for an unknown repository.
                throw repositoryNotFound(repo: repo, status: 404, hubMessage: nil)
            }
            throw statusError(response, url: url, repo: repo, revision: revision, file: nil)
        }
        struct Info: Decodable {
            struct Sibling: Decodable { var rfilename: String }
            var sha: String?
            var siblings: [Sibling]?
        }
        let info: Info
        do {
            info = try JSONDecoder().decode(Info.self, from: body)
        } catch {
            throw HubError(
                .badResponse, "the model API answer from \(url) is not the JSON a hub sends: check HF_ENDPOINT",
                underlying: "\(error)")
        }
        guard let commit = info.sha, !commit.isEmpty, !commit.contains("/"), let siblings = info.siblings else {
            throw HubError(
                .badResponse, "the model API answer from \(url) lacks 'sha' or 'siblings': check HF_ENDPOINT")
        }
        return (commit, siblings.map(\.rfilename))
    }

    /// Sends through the transport, turning transport failures into HubErrors that name the repository.
    private func send(
        _ request: URLRequest, repo: String, what: String,
        chooseSink: @escaping @Sendable (HTTPURLResponse) -> BodySink? = { _ in nil }
    ) async throws -> HTTPURLResponse {
        try await mappingTransportErrors(repo: repo, what: what) {
            try await transport.send(request, chooseSink: chooseSink)
        }
    }

    /// Runs `body`, turning a transport failure (no connection, timeout, transfer cut short) into
    /// HubError(.network) naming the repository and what was being fetched.
    private func mappingTransportErrors<T>(
        repo: String, what: String, _ body: () async throws -> T
    ) async throws -> T {
        do {
            return try await body()
        } catch let error where error.isTransportFailure {
            throw HubError(
                .network,
                "cannot fetch \(what) of '\(repo)' from \(environment.endpoint.absoluteString): check the network "
                    + "connection and HF_ENDPOINT, or use a model that is already in the cache (--offline)",
                underlying: error.localizedDescription)
        }
    }

    // MARK: - Errors

    /// The error for a failed request, from the hub's X-Error-Code and the status.
    func statusError(_ response: HTTPURLResponse, url: URL, repo: String, revision: String, file: String?) -> HubError {
        let status = response.statusCode
        let code = response.value(forHTTPHeaderField: "X-Error-Code")
        let hubMessage = response.value(forHTTPHeaderField: "X-Error-Message")
        let said = hubMessage.map { "hub says: \($0)" }
        let hasToken = environment.token != nil
        switch (code, status) {
        case ("RevisionNotFound", _):
            return HubError(
                .revisionNotFound,
                "revision '\(revision)' was not found in '\(repo)': check --revision (a branch, tag or commit hash)",
                underlying: said)
        case ("EntryNotFound", _),
            (nil, 404) where file != nil:
            return HubError(
                .fileNotFound,
                "file '\(file ?? "?")' was not found in '\(repo)' at revision '\(revision)': check the model name, "
                    + "or whether the repository has this file",
                underlying: said)
        case ("GatedRepo", _):
            return HubError(
                .accessDenied,
                "'\(repo)' is a gated model (HTTP \(status)): accept its conditions at "
                    + "\(environment.endpoint.absoluteString)/\(repo) while logged in, then set HF_TOKEN to a token "
                    + "of that account" + (hasToken ? " (the token in HF_TOKEN was sent and refused)" : ""),
                underlying: said)
        case ("RepoNotFound", _), (nil, 404):
            return repositoryNotFound(repo: repo, status: status, hubMessage: hubMessage)
        case (_, 401) where hubMessage == "Invalid credentials in Authorization header":
            return HubError(
                .accessDenied,
                "the hub refused the token in HF_TOKEN for '\(repo)' (HTTP 401, invalid credentials): set HF_TOKEN "
                    + "to a valid token, or unset it for public models")
        case (_, 401):
            return hasToken
                ? HubError(
                    .accessDenied,
                    "the hub refused the token in HF_TOKEN for '\(repo)' (HTTP 401): check that it is valid and can "
                        + "read this repository", underlying: said)
                : repositoryNotFound(repo: repo, status: status, hubMessage: hubMessage)
        case (_, 403):
            return HubError(
                .accessDenied,
                hasToken
                    ? "the token in HF_TOKEN may not read '\(repo)' (HTTP 403): use a token with read access to it"
                    : "access to '\(repo)' was denied (HTTP 403): set HF_TOKEN to a token that can read it",
                underlying: said)
        case (_, 429):
            return HubError(
                .network,
                "the hub is limiting requests (HTTP 429) for '\(repo)': wait a little and try again; a token "
                    + "(HF_TOKEN) raises the limit", underlying: said)
        case (_, 500...):
            return HubError(
                .network, "the hub failed with HTTP \(status) for \(url): try again later", underlying: said)
        default:
            return HubError(
                .badResponse, "unexpected HTTP \(status) from \(url) for '\(repo)'", underlying: said)
        }
    }

    private func repositoryNotFound(repo: String, status: Int, hubMessage: String?) -> HubError {
        let advice =
            environment.token == nil
            ? "check the name; if the model is private or gated, set HF_TOKEN to a token that can read it"
            : "check the name, and that the token in HF_TOKEN can read it"
        return HubError(
            .repositoryNotFound,
            "model repository '\(repo)' was not found on \(environment.endpoint.absoluteString) (HTTP \(status)): "
                + advice, underlying: hubMessage.map { "hub says: \($0)" })
    }
}

extension Error {
    /// Whether this is URLSession failing (no connection, timeout, transfer cut short) rather than an answer.
    /// On Linux these arrive as NSError in NSURLErrorDomain, which does not bridge to URLError.
    var isTransportFailure: Bool {
        self is URLError || (self as NSError).domain == NSURLErrorDomain
    }
}
