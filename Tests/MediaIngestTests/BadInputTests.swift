// Every bad input gives its typed error, naming the source, in at most three lines, without a crash: from probe,
// from frames and from VideoClip.

import Foundation
import MediaIngest
import TestSupport
import Testing

@Suite struct BadInputTests {
    /// The error `frames` ends with for `source` (nil if it ended normally).
    static func framesError(_ source: String, options: IngestOptions = IngestOptions()) async -> (MediaError?, Int) {
        var count = 0
        do {
            for try await _ in frames(from: source, options: options) { count += 1 }
            return (nil, count)
        } catch let error as MediaError {
            return (error, count)
        } catch {
            return (nil, count)
        }
    }

    static func checkMessage(_ error: MediaError, names source: String) {
        #expect(error.description.contains(source), "\(error)")
        #expect(error.description.split(separator: "\n").count <= 3)
    }
}

extension BadInputTests {
    @Test func missingFile() async throws {
        let path = "/no/such/dir/clip.mp4"
        #expect(throws: MediaError.fileNotFound(path: path)) { try probe(path) }
        let (error, _) = await Self.framesError(path)
        #expect(error == .fileNotFound(path: path))
        Self.checkMessage(try #require(error), names: path)
    }

    @Test func textFileIsNotMedia() async throws {
        let path = try MediaFixtures.path(.textFile)
        #expect(throws: MediaError.notMediaFile(source: path)) { try probe(path) }
        let (error, _) = await Self.framesError(path)
        #expect(error == .notMediaFile(source: path))
    }

    @Test func directoryIsNotMedia() throws {
        let folder = try MediaFixtures.scratchDirectory("dir").path
        #expect(throws: MediaError.notMediaFile(source: folder)) { try probe(folder) }
    }

    @Test func mp4WithoutItsIndexIsTruncated() async throws {
        let path = try MediaFixtures.path(.truncatedMP4)
        let (error, count) = await Self.framesError(path)
        guard case .truncated(let source, _)? = error else {
            Issue.record("expected truncated, got \(String(describing: error))")
            return
        }
        #expect(source == path && count == 0)
        #expect(throws: MediaError.self) { try probe(path) }
    }

    @Test func mp4CutShortYieldsItsFramesThenTruncated() async throws {
        let path = try MediaFixtures.path(.truncatedFaststartMP4)
        let (error, count) = await Self.framesError(path)
        guard case .truncated(let source, _)? = error else {
            Issue.record("expected truncated, got \(String(describing: error))")
            return
        }
        #expect(source == path)
        #expect(count > 0 && count < 10)
        #expect(throws: MediaError.self) { try probe(path) }
        #expect(throws: MediaError.self) { try VideoClip.frameCountAndRate(path) }
    }

    @Test func audioOnlyHasNoVideoStream() async throws {
        let path = try MediaFixtures.path(.audioOnly)
        #expect(throws: MediaError.noVideoStream(source: path, contents: "1 audio stream")) { try probe(path) }
        let (error, _) = await Self.framesError(path)
        #expect(error == .noVideoStream(source: path, contents: "1 audio stream"))
        Self.checkMessage(try #require(error), names: path)
    }

    @Test func unknownCodecIsUnsupported() async throws {
        let path = try MediaFixtures.path(.unknownCodec)
        let (error, _) = await Self.framesError(path)
        #expect(error == .unsupportedCodec(source: path, codec: "ZZZZ"))
        #expect(throws: MediaError.unsupportedCodec(source: path, codec: "ZZZZ")) { try probe(path) }
        #expect(throws: MediaError.unsupportedCodec(source: path, codec: "ZZZZ")) {
            try VideoClip.frameCountAndRate(path)
        }
    }
}
