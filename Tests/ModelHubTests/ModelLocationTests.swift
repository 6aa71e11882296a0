// `--model` parsing: an existing path wins, then `org/name` hub ids, else a clear error.

import Foundation
import Testing

@testable import ModelHub

@Suite struct ModelLocationTests {
    @Test func existingFolderWinsOverAHubIDOfTheSameText() throws {
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let folder = temp.url.appendingPathComponent("org/name")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let location = try ModelLocation.parse("org/name", currentDirectory: temp.url.path)
        guard case .folder(let url) = location else {
            Issue.record("expected a folder, got \(location)")
            return
        }
        #expect(url.path == folder.path)
    }

    @Test func ggufFileIsALocalModel() throws {
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let file = temp.url.appendingPathComponent("tiny.Q4_1.gguf")
        try Data("GGUF".utf8).write(to: file)
        #expect(try ModelLocation.parse(file.path) == .ggufFile(file.standardizedFileURL))
        #expect(try ModelLocation.parse("tiny.Q4_1.gguf", currentDirectory: temp.url.path) == .ggufFile(file))
    }

    @Test func otherExistingFilesAreRejected() async throws {
        let temp = try TemporaryFolder()
        defer { temp.remove() }
        let file = temp.url.appendingPathComponent("weights.bin")
        try Data().write(to: file)
        let error = await expectHubError(.invalidInput) { _ = try ModelLocation.parse(file.path) }
        #expect(error?.message.contains("not a .gguf file") == true)
    }

    @Test func hubIDsKeepTheirRevision() throws {
        let location = try ModelLocation.parse(
            "HuggingFaceTB/SmolVLM2-256M-Video-Instruct", revision: "refs/pr/1", currentDirectory: "/nonexistent")
        #expect(location == .hub(repo: "HuggingFaceTB/SmolVLM2-256M-Video-Instruct", revision: "refs/pr/1"))
        #expect(try ModelLocation.parse("a/b", currentDirectory: "/nonexistent") == .hub(repo: "a/b", revision: "main"))
    }

    @Test(arguments: ["org/name", "Org_1/na.me-2", "a/b"])
    func validRepoIDs(_ text: String) {
        #expect(ModelLocation.isRepoID(text))
    }

    @Test(arguments: [
        "name", "org/name/extra", "org//name", "-org/name", "org/name.", "org--x/name", "org/na..me", "/name",
    ])
    func invalidRepoIDs(_ text: String) {
        #expect(!ModelLocation.isRepoID(text))
    }

    @Test func neitherPathNorHubIDIsAnError() async {
        let error = await expectHubError(.invalidInput) {
            _ = try ModelLocation.parse("just-a-name", currentDirectory: "/nonexistent")
        }
        #expect(error?.message.contains("neither an existing path nor a hub id") == true)
        let missing = await expectHubError(.missingLocalFile) {
            _ = try ModelLocation.parse("./models/x.gguf", currentDirectory: "/nonexistent")
        }
        #expect(missing?.message.contains("/nonexistent/models/x.gguf") == true)
    }

    @Test(arguments: ["", "../main", "a//b", "a/./b", "ma in"])
    func badRevisionsAreRejected(_ revision: String) async {
        _ = await expectHubError(.invalidInput) { try ModelLocation.validate(revision: revision) }
    }

    @Test func commitHashesAreFortyLowercaseHexDigits() {
        #expect(ModelLocation.isCommitHash(String(repeating: "a1", count: 20)))
        #expect(!ModelLocation.isCommitHash(String(repeating: "A1", count: 20)))
        #expect(!ModelLocation.isCommitHash("main"))
    }
}
