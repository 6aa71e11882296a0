// Helpers for the ModelHub tests: temporary folders and a byte-exact listing of a folder tree.

import Foundation
import Testing

@testable import ModelHub

/// A new empty folder under the system's temporary folder, removed by `remove()`.
struct TemporaryFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("vigil-modelhub-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// Every entry under `root`, sorted: `D path` for folders, `L path -> target` for symlinks (not followed),
/// `F path <size> <sha256>` for files. Two trees with the same listing are the same byte for byte.
func treeListing(_ root: URL) -> [String] {
    let manager = FileManager.default
    var entries: [String] = []
    func walk(_ folder: URL, _ prefix: String) {
        for name in ((try? manager.contentsOfDirectory(atPath: folder.path)) ?? []).sorted() {
            let url = folder.appendingPathComponent(name)
            let path = prefix.isEmpty ? name : prefix + "/" + name
            if let target = try? manager.destinationOfSymbolicLink(atPath: url.path) {
                entries.append("L \(path) -> \(target)")
                continue
            }
            var isFolder: ObjCBool = false
            _ = manager.fileExists(atPath: url.path, isDirectory: &isFolder)
            if isFolder.boolValue {
                entries.append("D \(path)")
                walk(url, path)
            } else {
                let data = (try? Data(contentsOf: url)) ?? Data()
                entries.append("F \(path) \(data.count) \(sha256Hex(data))")
            }
        }
    }
    walk(root, "")
    return entries.sorted()
}

/// The listing entries of every folder leading to `path` (`a`, `a/b` for `a/b/c`).
func folderEntries(_ path: String) -> [String] {
    let parts = path.split(separator: "/")
    return (1..<max(1, parts.count)).map { "D " + parts[0..<$0].joined(separator: "/") }
}

/// Runs `body`, expecting a HubError; returns it.
func expectHubError(
    _ code: HubError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async -> HubError? {
    do {
        try await body()
        Issue.record("expected HubError.\(code), got success", sourceLocation: sourceLocation)
        return nil
    } catch let error as HubError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected HubError.\(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
