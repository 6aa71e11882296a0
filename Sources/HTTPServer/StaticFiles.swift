// Files from one directory (the web page of `vigil serve`): a route such as `GET /ui/*` hands the rest of the path
// to `StaticFiles`, which opens the file and lets the kernel send it. No path traversal: segments `..` and `.`,
// hidden names (a leading dot), backslashes and NUL are refused, and the resolved path (symbolic links followed)
// must stay inside the directory. Every refusal is a plain 404, so nothing about the disk is revealed.

import Foundation
import Glibc

/// Serves the files of a directory.
public struct StaticFiles: Sendable {
    /// The directory served.
    public let directory: URL
    /// The file served for a directory (`index.html`).
    public let indexFile: String
    private let root: String?

    /// Serves `directory`; a request for a directory gets its `indexFile`.
    public init(directory: URL, indexFile: String = "index.html") {
        self.directory = directory
        self.indexFile = indexFile
        root = directory.path.withCString { realpath($0, nil) }.map { pointer in
            defer { free(pointer) }
            return String(cString: pointer)
        }
    }

    /// A handler for a route ending in `*`: serves the path the `*` matched.
    public var handler: HTTPHandler {
        { request in response(forPath: request.pathParameters["*"] ?? "") }
    }

    /// The file at `relativePath` (`/`-separated, relative to the directory), or a 404 error response.
    public func response(forPath relativePath: String) -> HTTPResponse {
        let notFound = HTTPError.notFound("no such file: /\(relativePath)").response
        guard let root else { return notFound }
        let segments = relativePath.split(separator: "/")
        for segment in segments {
            if segment.hasPrefix(".") || segment.contains("\\") || segment.contains("\0") { return notFound }
        }
        var path = ([root] + segments.map(String.init)).joined(separator: "/")
        var info = stat()
        guard stat(path, &info) == 0 else { return notFound }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            path += "/" + indexFile
            guard stat(path, &info) == 0 else { return notFound }
        }
        guard (info.st_mode & S_IFMT) == S_IFREG,
            let resolved = realpath(path, nil).map({ pointer -> String in
                defer { free(pointer) }
                return String(cString: pointer)
            }),
            resolved.hasPrefix(root.hasSuffix("/") ? root : root + "/")
        else { return notFound }
        let descriptor = open(resolved, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return notFound }
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            return notFound
        }
        let file = OpenFile(descriptor: descriptor, size: UInt64(info.st_size))
        return HTTPResponse(
            status: 200,
            headers: ["Content-Type": Self.contentType(forPath: resolved), "Cache-Control": "no-cache"],
            body: HTTPResponse.Body(kind: .file(file)))
    }

    /// The media type for a file name, by extension; `application/octet-stream` when unknown.
    public static func contentType(forPath path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: ".") else { return "application/octet-stream" }
        switch name[name.index(after: dot)...].lowercased() {
        case "html", "htm": return "text/html; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "json", "map": return "application/json"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "webp": return "image/webp"
        case "ico": return "image/x-icon"
        case "txt": return "text/plain; charset=utf-8"
        case "wasm": return "application/wasm"
        case "woff2": return "font/woff2"
        case "vtt": return "text/vtt; charset=utf-8"
        default: return "application/octet-stream"
        }
    }
}
