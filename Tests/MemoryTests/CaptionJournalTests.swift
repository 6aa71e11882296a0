// The caption journal and the outputs: entries survive as appended, a torn last line (at any byte) is ignored and
// reported, foreign and damaged journals are rejected, resuming continues cleanly, outputs rewritten from a journal
// are byte-identical to an uninterrupted run's, and a rerun learns what is left to do.

import Foundation
import Testing

@testable import Memory

@Suite struct CaptionJournalTests {}

/// A fresh folder with a fake input file, removed at the end of the test.
private struct Workspace {
    let folder: URL
    let input: String

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-journal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        input = folder.appendingPathComponent("lecture.mp4").path
        try Data(repeating: 7, count: 1234).write(to: URL(fileURLWithPath: input))
    }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    func identity(_ settings: [String: String] = ["model": "SmolVLM2-256M", "clip": "30"]) throws -> JournalIdentity {
        try JournalIdentity.of(inputAt: input, settings: JournalIdentity.fingerprint(settings))
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}

/// A plausible run's entries: clip captions every 30 s, a segment summary every 300 s, a summary after each segment.
private func runEntries(seconds: Double) -> [TextMemoryEntry] {
    var entries: [TextMemoryEntry] = []
    var t = 0.0
    var index = 0
    while t < seconds {
        let end = min(t + 30, seconds)
        let text = index % 5 == 4 ? "" : "Clip \(index / 2): a person \(index % 3 == 0 ? "waves" : "walks") <b> & é."
        entries.append(
            TextMemoryEntry(
                level: .clip, start: t, end: end, text: text, tokenCount: 12,
                createdAt: Date(timeIntervalSince1970: 1_780_000_000.5 + t / 7), model: "SmolVLM2-256M",
                timings: ["latency_ms": 1000 + t / 3]))
        if end.truncatingRemainder(dividingBy: 300) == 0 || end == seconds {
            let segmentStart = ((end - 0.001) / 300).rounded(.down) * 300
            entries.append(
                TextMemoryEntry(
                    level: .segment, start: segmentStart, end: end, text: "Segment ending \(end).",
                    tokenCount: 40, createdAt: Date(timeIntervalSince1970: 1_780_000_100 + t)))
            entries.append(
                TextMemoryEntry(
                    level: .summary, start: 0, end: end, text: "Everything up to \(end).", tokenCount: 80,
                    createdAt: Date(timeIntervalSince1970: 1_780_000_200 + t)))
        }
        t = end
        index += 1
    }
    return entries
}

private func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

extension CaptionJournalTests {
    @Test func appendedEntriesReadBack() throws {
        let space = try Workspace()
        defer { space.remove() }
        let entries = runEntries(seconds: 700)
        let journal = try CaptionJournal.create(at: space.path("lecture.vigil-journal"), identity: try space.identity())
        for entry in entries { try journal.append(entry) }
        let contents = try CaptionJournal.read(at: journal.path, identity: try space.identity())
        #expect(contents.entries == entries)
        #expect(!contents.isFinished && contents.discardedBytes == 0)
        #expect(contents.resumeTime == 700)
        try journal.markFinished()
        journal.close()
        #expect(try CaptionJournal.read(at: journal.path, identity: try space.identity()).isFinished)
        let lines = String(decoding: try bytes(journal.path), as: UTF8.self).split(separator: "\n")
        #expect(lines.first?.hasPrefix(#"{"kind":"header","journal":"vigil-captions","version":1,"input":""#) == true)
        #expect(lines.last == #"{"kind":"finished"}"#)
    }

    @Test func aTornLastLineAtAnyByteIsIgnoredAndReported() throws {
        let space = try Workspace()
        defer { space.remove() }
        let entries = Array(runEntries(seconds: 90).prefix(3))
        let path = space.path("lecture.vigil-journal")
        let journal = try CaptionJournal.create(at: path, identity: try space.identity())
        for entry in entries { try journal.append(entry) }
        try journal.markFinished()
        journal.close()
        let full = try bytes(path)
        let lineEnds = full.indices.filter { full[$0] == 0x0A }.map { $0 + 1 }
        #expect(lineEnds.count == 5)
        let cut = space.path("cut.vigil-journal")
        for length in 0...full.count {
            try Data(full[0..<length]).write(to: URL(fileURLWithPath: cut))
            let contents = try CaptionJournal.read(at: cut, identity: try space.identity())
            let complete = lineEnds.filter { $0 <= length }
            let kept = complete.last ?? 0
            #expect(contents.discardedBytes == length - kept, "cut at \(length)")
            #expect(contents.entries == Array(entries.prefix(max(0, min(3, complete.count - 1)))), "cut at \(length)")
            #expect(contents.isFinished == (complete.count == 5), "cut at \(length)")
        }
    }

    @Test func resumingCutsTheTornLineAndAppendsAfterIt() throws {
        let space = try Workspace()
        defer { space.remove() }
        let entries = runEntries(seconds: 330)
        let path = space.path("lecture.vigil-journal")
        let journal = try CaptionJournal.create(at: path, identity: try space.identity())
        for entry in entries.prefix(6) { try journal.append(entry) }
        journal.close()
        // An interrupted append: half a line at the end.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        let torn = #"{"kind":"entry","level":"clip","start":180.0,"end":2"#
        try handle.write(contentsOf: Data(torn.utf8))
        try handle.close()

        let (resumed, contents) = try CaptionJournal.resume(at: path, identity: try space.identity())
        #expect(contents.entries == Array(entries.prefix(6)))
        #expect(contents.discardedBytes == torn.utf8.count)
        #expect(contents.resumeTime == 180)
        for entry in entries.dropFirst(6) { try resumed.append(entry) }
        try resumed.markFinished()
        resumed.close()
        let final = try CaptionJournal.read(at: path, identity: try space.identity())
        #expect(final.entries == entries && final.isFinished && final.discardedBytes == 0)
    }

    @Test func aJournalTornInsideItsHeaderStartsAgain() throws {
        let space = try Workspace()
        defer { space.remove() }
        let path = space.path("lecture.vigil-journal")
        let torn = #"{"kind":"header","jour"#
        try Data(torn.utf8).write(to: URL(fileURLWithPath: path))
        let read = try CaptionJournal.read(at: path, identity: try space.identity())
        #expect(read == JournalContents(discardedBytes: torn.utf8.count))
        let (journal, contents) = try CaptionJournal.resume(at: path, identity: try space.identity())
        #expect(contents.entries.isEmpty && contents.resumeTime == 0)
        try journal.append(runEntries(seconds: 30)[0])
        journal.close()
        #expect(try CaptionJournal.read(at: path, identity: try space.identity()).entries.count == 1)
    }

    @Test func aJournalOfAnotherInputOrOtherSettingsIsRejected() throws {
        let space = try Workspace()
        defer { space.remove() }
        let path = space.path("lecture.vigil-journal")
        let identity = try space.identity()
        try CaptionJournal.create(at: path, identity: identity).close()

        var other = identity
        other.inputPath = space.path("other.mp4")
        #expect(
            throws: MemoryError.foreignJournal(
                path: path, field: "input file", journal: identity.inputPath, current: other.inputPath)
        ) { try CaptionJournal.read(at: path, identity: other) }

        let changed = try space.identity(["model": "SmolVLM2-500M", "clip": "30"])
        #expect(changed.settings != identity.settings)
        do {
            _ = try CaptionJournal.resume(at: path, identity: changed)
            Issue.record("a journal of other settings was accepted")
        } catch {
            #expect(error.code == "foreign_journal")
            #expect(error.description.contains("settings fingerprint is \(identity.settings), now it is"))
        }

        // The input file changed (same path): size, then modification time.
        try Data(repeating: 1, count: 99).write(to: URL(fileURLWithPath: space.input))
        #expect(throws: MemoryError.self) { try CaptionJournal.read(at: path, identity: try space.identity()) }
        var touched = identity
        touched.inputModifiedNanoseconds += 1
        do {
            _ = try CaptionJournal.read(at: path, identity: touched)
            Issue.record("a journal of an older input file was accepted")
        } catch {
            #expect(error.description.contains("input modification time"))
        }
    }

    @Test func damagedJournalsAreRejectedWithTheLine() throws {
        let space = try Workspace()
        defer { space.remove() }
        let path = space.path("lecture.vigil-journal")
        let journal = try CaptionJournal.create(at: path, identity: try space.identity())
        for entry in runEntries(seconds: 90) { try journal.append(entry) }
        journal.close()
        var lines = String(decoding: try bytes(path), as: UTF8.self).split(separator: "\n").map(String.init)
        lines[2] = #"{"kind":"entry","level":"clip"}"#
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        let identity = try space.identity()
        do {
            _ = try CaptionJournal.read(at: path, identity: identity)
            Issue.record("a damaged journal was accepted")
        } catch {
            #expect(error.code == "corrupt_journal" && error.description.contains("line 3"))
        }
        try "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nhi\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(throws: MemoryError.notAJournal(path: path, detail: "its first line is no journal header")) {
            try CaptionJournal.read(at: path, identity: try space.identity())
        }
    }

    @Test func oneProcessAtATimeAppends() throws {
        let space = try Workspace()
        defer { space.remove() }
        let path = space.path("lecture.vigil-journal")
        let journal = try CaptionJournal.create(at: path, identity: try space.identity())
        #expect(throws: MemoryError.journalInUse(path: path)) {
            _ = try CaptionJournal.resume(at: path, identity: try space.identity())
        }
        journal.close()
        _ = try CaptionJournal.resume(at: path, identity: try space.identity())
    }

    @Test func outputsRewrittenFromAJournalAreByteIdenticalToAnUninterruptedRun() throws {
        let space = try Workspace()
        defer { space.remove() }
        let entries = runEntries(seconds: 1234.5)
        let formats = CaptionFormat.allCases
        let options = CaptionWriter.Options(note: "model SmolVLM2-256M", timingNotes: true)

        // Uninterrupted: every entry in memory, written at the end.
        let straight = CaptionOutputs(directory: space.folder.path, baseName: "straight", formats: formats)
        try straight.write(entries, options: options)

        // Interrupted after 17 entries (with a torn line), resumed, finished, outputs written from the journal alone.
        let resumed = CaptionOutputs(input: space.input, formats: formats)
        #expect(resumed.journalPath == space.path("lecture.vigil-journal"))
        #expect(resumed.path(for: .vtt) == space.path("lecture.vtt"))
        let first = try CaptionJournal.create(at: resumed.journalPath, identity: try space.identity())
        for entry in entries.prefix(17) { try first.append(entry) }
        first.close()
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: resumed.journalPath))
        try handle.seekToEnd()
        let torn = #"{"kind":"entry","le"#
        try handle.write(contentsOf: Data(torn.utf8))
        try handle.close()
        guard case .resume(let done) = try resumed.state(identity: try space.identity()) else {
            Issue.record("an unfinished journal is not resumable")
            return
        }
        #expect(done.entries.count == 17 && done.discardedBytes == torn.utf8.count)
        let (journal, _) = try CaptionJournal.resume(at: resumed.journalPath, identity: try space.identity())
        for entry in entries.dropFirst(17) { try journal.append(entry) }
        try journal.markFinished()
        journal.close()
        let fromJournal = try CaptionJournal.read(at: resumed.journalPath, identity: try space.identity())
        try resumed.write(fromJournal.entries, options: options)
        for format in formats {
            let a = try bytes(straight.path(for: format))
            let b = try bytes(resumed.path(for: format))
            #expect(a == b, "\(format) differs after a resume")
            #expect(!a.isEmpty)
        }
    }

    @Test func aRerunLearnsWhatIsLeftToDo() throws {
        let space = try Workspace()
        defer { space.remove() }
        let entries = runEntries(seconds: 95)
        let outputs = CaptionOutputs(input: space.input, formats: [.srt, .vtt])
        let identity = try space.identity()
        #expect(try outputs.state(identity: identity) == .start)

        let journal = try CaptionJournal.create(at: outputs.journalPath, identity: identity)
        try journal.append(entries[0])
        #expect(try outputs.state(identity: identity) == .resume(JournalContents(entries: [entries[0]])))
        for entry in entries.dropFirst() { try journal.append(entry) }
        try journal.markFinished()
        #expect(
            try outputs.state(identity: identity) == .writeOutputs(JournalContents(entries: entries, isFinished: true)))

        // Killed between the renames: the finished journal still asks for every output to be written.
        try AtomicFile.write(CaptionWriter.render(entries, as: .srt), to: outputs.path(for: .srt))
        #expect(
            try outputs.state(identity: identity) == .writeOutputs(JournalContents(entries: entries, isFinished: true)))

        try outputs.write(entries)
        journal.close()
        try outputs.removeJournal()
        #expect(try outputs.state(identity: identity) == .complete)
        #expect(!FileManager.default.fileExists(atPath: outputs.journalPath))
        // Leftovers of the atomic writes: none.
        let names = try FileManager.default.contentsOfDirectory(atPath: space.folder.path).sorted()
        #expect(names == ["lecture.mp4", "lecture.srt", "lecture.vtt"])

        // A format that was not written before makes the input start again; so does a deleted output.
        #expect(try CaptionOutputs(input: space.input, formats: [.srt, .txt]).state(identity: identity) == .start)
        try FileManager.default.removeItem(atPath: outputs.path(for: .vtt))
        #expect(try outputs.state(identity: identity) == .start)
        // A journal of another run in the way is an error, not silently ignored.
        try CaptionJournal.create(at: outputs.journalPath, identity: try space.identity(["model": "other"])).close()
        #expect(throws: MemoryError.self) { try outputs.state(identity: identity) }
    }

    @Test func atomicWritesReplaceWholeFiles() throws {
        let space = try Workspace()
        defer { space.remove() }
        let path = space.path("out.txt")
        try AtomicFile.write("first version, longer\n", to: path)
        try AtomicFile.write("second\n", to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "second\n")
        try AtomicFile.write("", to: path)
        #expect(try bytes(path).isEmpty)
        #expect(throws: MemoryError.self) { try AtomicFile.write("x", to: space.path("missing-folder/out.txt")) }
        try AtomicFile.remove(path)
        try AtomicFile.remove(path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: space.folder.path) == ["lecture.mp4"])
    }

    @Test func fingerprintsAreStableAndOrderFree() {
        let a = JournalIdentity.fingerprint(["model": "m", "fps": "1", "prompt": "Describe."])
        #expect(a == JournalIdentity.fingerprint(["prompt": "Describe.", "fps": "1", "model": "m"]))
        #expect(a.count == 16)
        #expect(a != JournalIdentity.fingerprint(["model": "m", "fps": "2", "prompt": "Describe."]))
        #expect(JournalIdentity.fingerprint([:]) == "cbf29ce484222325")
    }
}
