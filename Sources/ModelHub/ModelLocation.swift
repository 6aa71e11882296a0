// What `--model` names: a local folder, a local `.gguf` file, or a hub repository id `org/name` at a revision.
// Rule: an existing path wins (a folder, or a file ending in .gguf); otherwise text of the form `org/name` is a hub
// id; otherwise it is an error that says it is neither. Hub ids follow huggingface_hub's `validate_repo_id`: letters,
// digits, `-`, `_`, `.`; no `--` or `..`; each part starts and ends with a letter, digit or `_`; at most 96 characters.

import Foundation

/// Where a model's files are.
public enum ModelLocation: Sendable, Equatable {
    /// A local folder with the model's files (config.json, weights, tokenizer.json, ...).
    case folder(URL)
    /// A local GGUF file.
    case ggufFile(URL)
    /// A hub repository `org/name` at a branch, tag or commit.
    case hub(repo: String, revision: String)

    /// The default revision of hub models.
    public static let defaultRevision = "main"

    /// Parses `--model` text (with `--revision`, used for hub ids only). Relative paths are taken from
    /// `currentDirectory`; `~/` is the home folder.
    public static func parse(
        _ text: String, revision: String = defaultRevision,
        currentDirectory: String = FileManager.default.currentDirectoryPath
    ) throws(HubError) -> ModelLocation {
        guard !text.isEmpty else {
            throw HubError(
                .invalidInput, "the model is empty: give a model folder, a .gguf file or a hub id (org/name)")
        }
        var path = text
        if path == "~" || path.hasPrefix("~/") {
            path = FileManager.default.homeDirectoryForCurrentUser.path + path.dropFirst(1)
        }
        if !path.hasPrefix("/") { path = currentDirectory + "/" + path }
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return .folder(URL(fileURLWithPath: url.path, isDirectory: true)) }
            if url.pathExtension.lowercased() == "gguf" { return .ggufFile(url) }
            throw HubError(
                .invalidInput,
                "'\(text)' is a file but not a .gguf file: give a model folder, a .gguf file or a hub id (org/name)")
        }
        if isRepoID(text) {
            try validate(revision: revision)
            return .hub(repo: text, revision: revision)
        }
        let looksLikePath =
            text.hasPrefix("/") || text.hasPrefix(".") || text.hasPrefix("~")
            || text.lowercased().hasSuffix(".gguf")
        if looksLikePath {
            throw HubError(.missingLocalFile, "model path '\(url.path)' does not exist: check the path")
        }
        throw HubError(
            .invalidInput,
            "'\(text)' is neither an existing path nor a hub id: give a model folder, a .gguf file, or a hub id "
                + "such as HuggingFaceTB/SmolVLM2-256M-Video-Instruct")
    }

    /// Whether `text` is a hub repository id of the form `org/name`.
    public static func isRepoID(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, text.count <= 96, !text.contains("--"), !text.contains("..") else { return false }
        return parts.allSatisfy { part in
            guard let first = part.first, let last = part.last else { return false }
            return part.allSatisfy { isWordCharacter($0) || $0 == "-" || $0 == "." }
                && isWordCharacter(first) && isWordCharacter(last)
        }
    }

    /// Throws unless `revision` is usable both in a URL and as a path under `refs/` (`main`, `v1.0`, `refs/pr/1`,
    /// a commit hash).
    public static func validate(revision: String) throws(HubError) {
        let parts = revision.split(separator: "/", omittingEmptySubsequences: false)
        let bad =
            revision.isEmpty || parts.contains { $0.isEmpty || $0 == "." || $0 == ".." }
            || revision.contains { $0.isWhitespace || $0 == "\\" || $0.asciiValue.map { $0 < 0x20 } ?? false }
        if bad {
            throw HubError(
                .invalidInput,
                "revision '\(revision)' is not a branch, tag or commit name: use e.g. main, v1.0 or a commit hash")
        }
    }

    /// Whether `text` is a full commit hash (40 lowercase hex digits), as huggingface_hub's REGEX_COMMIT_HASH.
    public static func isCommitHash(_ text: String) -> Bool {
        text.utf8.count == 40 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    private static func isWordCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "_")
    }
}
