// Where file inputs given over the API may come from: only files inside the folders the operator allowed
// (`--allow-dir`). A path is accepted as an absolute path or a `file://` URL; it is checked twice — as written
// (after removing `.` and `..`), and after resolving symbolic links — so neither `..` nor a link leads out. Refusals
// name only what the client sent, never the server's folders.

import Foundation
import HTTPServer

/// Confines file inputs to allowed folders.
struct PathPolicy: Sendable {
    /// The allowed folders, symbolic links resolved, each ending in "/".
    let roots: [String]

    /// A policy for `directories`; throws when one does not exist or is not a folder.
    init(directories: [URL]) throws(ServerError) {
        var roots: [String] = []
        for directory in directories {
            guard let real = Self.realPath(directory.path) else {
                throw ServerError("--allow-dir \(directory.path): no such folder; create it or give another")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ServerError("--allow-dir \(directory.path): not a folder")
            }
            roots.append(real.hasSuffix("/") ? real : real + "/")
        }
        self.roots = roots
    }

    /// The real path of the file `input` names (`/abs/path` or `file:///abs/path`), which must exist inside an
    /// allowed folder. `what` names the field in messages ("video_url").
    func resolve(_ input: String, what: String) throws(HTTPError) -> String {
        guard !roots.isEmpty else {
            throw APIError.pathNotAllowed(
                "\(what): this server accepts no file paths; its operator can allow folders with --allow-dir DIR")
        }
        var path = input
        if input.lowercased().hasPrefix("file://") {
            guard let url = URL(string: input), url.isFileURL, url.host == nil || url.host == "" || url.host == "localhost"
            else { throw .badRequest("\(what): '\(input)' is not a usable file:// URL; write file:///absolute/path") }
            path = url.path
        } else if input.contains("://") || input.hasPrefix("data:") {
            throw .badRequest("\(what): only local files are accepted (an absolute path or file:///path), not '\(Self.scheme(input))' URLs")
        }
        guard path.hasPrefix("/") else {
            throw .badRequest("\(what): '\(input)' is not an absolute path; write /folder/file.mp4 or file:///folder/file.mp4")
        }
        guard !path.contains("\0") else { throw .badRequest("\(what): the path holds a NUL character") }
        let lexical = URL(fileURLWithPath: path).standardizedFileURL.path
        guard isInside(lexical) || roots.contains(where: { lexical + "/" == $0 }) else {
            throw APIError.pathNotAllowed("\(what): '\(input)' is outside the folders this server allows")
        }
        guard let real = Self.realPath(lexical) else {
            throw .badRequest("\(what): '\(input)' does not exist")
        }
        guard isInside(real) else {
            throw APIError.pathNotAllowed("\(what): '\(input)' leads outside the folders this server allows")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw .badRequest("\(what): '\(input)' is a folder, not a file")
        }
        return real
    }

    /// Whether the absolute `path` lies in an allowed folder — as written and, when it exists, with links resolved.
    /// (A file that has gone away is still "inside": a saved source whose recording was removed keeps its place.)
    func allows(_ path: String) -> Bool {
        let lexical = URL(fileURLWithPath: path).standardizedFileURL.path
        guard isInside(lexical) else { return false }
        return Self.realPath(lexical).map(isInside) ?? true
    }

    private func isInside(_ path: String) -> Bool {
        roots.contains { path.hasPrefix($0) }
    }

    private static func scheme(_ input: String) -> String {
        if input.hasPrefix("data:") { return "data" }
        return input.components(separatedBy: "://").first ?? input
    }

    /// `realpath(3)` of `path`, or nil when it does not exist.
    static func realPath(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}
