// What the fuzzers found in the memory's files, each now an error or a clamped value instead of a trap: caption
// times from a damaged journal, member ranges of a saved synopsis whose sizes overflow, feature geometries too
// large to multiply. The minimised inputs are in Tests/Fixtures/fuzz/{caption-journal,synopsis-state}/crashes.

import Foundation
import Testing
import TestSupport

@testable import Memory

@Suite struct MemoryHostileInputTests {
    @Test("captions with times near the largest double render in every format")
    func hugeCaptionTimes() throws {
        let entries = [
            TextMemoryEntry(level: .clip, start: 1e300, end: 1.7e308, text: "far", tokenCount: 1),
            TextMemoryEntry(level: .clip, start: -1e18, end: -5, text: "before", tokenCount: 1),
        ]
        for format in CaptionFormat.allCases {
            let text = CaptionWriter.render(entries, as: format, options: CaptionWriter.Options(timingNotes: true))
            #expect(!text.isEmpty, "\(format)")
        }
        let srt = CaptionWriter.render(entries, as: .srt)
        #expect(srt.contains("640511947003:"))  // Int64.max / 4 ms, shown as hours
    }

    @Test("the journal of the fuzzer's crash reads back and renders")
    func journalWithHugeTimes() throws {
        let path = Fixtures.url("fuzz/caption-journal/crashes/start-1e300.journal").path
        let identity = JournalIdentity(inputPath: "/media/in.mp4", inputSize: 1, inputModifiedNanoseconds: 2, settings: "s")
        let contents = try CaptionJournal.read(at: path, identity: identity)
        #expect(contents.entries.map(\.start) == [1e300])
        #expect(CaptionWriter.render(contents.entries, as: .vtt).contains("-->"))
    }

    @Test("saved synopsis states whose member ranges overflow are corrupt, not a trap")
    func synopsisRanges() throws {
        let cases = [
            ("range-count-overflow.state", "a member range is reversed, overlaps or is out of order"),
            ("weight-sum-overflow.state", "its clusters have too many members"),
        ]
        for (name, message) in cases {
            let bytes = try [UInt8](Data(contentsOf: Fixtures.url("fuzz/synopsis-state/crashes/\(name)")))
            let error = try #require(throws: MemoryError.self, "\(name)") { try SynopsisState(serialized: bytes) }
            #expect(error.description.contains(message), "\(name)")
        }
    }

    @Test("a saved state with a non-finite sum is corrupt")
    func synopsisNonFinite() throws {
        let geometry = try FeatureGeometry(tokenCount: 4, hiddenSize: 2)
        var synopsis = try Synopsis(geometry: geometry)
        synopsis.add(
            id: 0, time: 0,
            features: FrameFeatures(tokens: [Float](repeating: 1, count: geometry.frameValueCount), geometry: geometry))
        var bytes = synopsis.state.serialized()
        #expect(try SynopsisState(serialized: bytes) == synopsis.state)
        // The first float of the first cluster's key sum: header (69 bytes) + weight, Σt, start, end (32 bytes).
        bytes.replaceSubrange(101..<105, with: [0x00, 0x00, 0xC0, 0x7F])  // NaN
        let crc = bytes.withUnsafeBytes { FeatureMath.crc32c(UnsafeRawBufferPointer(rebasing: $0[0..<bytes.count - 4])) }
        withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange((bytes.count - 4)..., with: $0) }
        let error = try #require(throws: MemoryError.self) { try SynopsisState(serialized: bytes) }
        #expect(error.description.contains("not a finite number"))
    }

    @Test("geometries too large to multiply safely are refused")
    func geometryBounds() {
        #expect(throws: MemoryError.self) { try FeatureGeometry(tokenCount: 1 << 40, hiddenSize: 4) }
        #expect(throws: MemoryError.self) { try FeatureGeometry(tokenCount: 4, hiddenSize: Int.max) }
        #expect(throws: MemoryError.self) { try FeatureGeometry(tokenCount: (1 << 17) * (1 << 17), hiddenSize: 1) }
        #expect((try? FeatureGeometry(tokenCount: 1 << 16, hiddenSize: 1 << 16)) != nil)
    }
}
