// A real crash: the journal probe (Tests/JournalProbe) appends entries as fast as it can and is killed with SIGKILL
// at an arbitrary moment; every entry it reported as appended must be in the journal, the journal must read back
// (with at most a torn last line) and continue cleanly.

import Foundation
import Glibc
import Testing

@testable import Memory

@Suite struct CaptionJournalCrashTests {
    static var probe: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "JournalProbe")
    }

    /// The `index`th entry the probe appends (its `probeEntry`).
    static func probeEntry(_ index: Int) -> TextMemoryEntry {
        TextMemoryEntry(
            level: .clip, start: Double(index) * 30, end: Double(index + 1) * 30,
            text: "Probe caption \(index) " + String(repeating: "x", count: index % 500), tokenCount: index % 48,
            createdAt: Date(timeIntervalSince1970: 1_780_000_000 + Double(index)))
    }
}

extension CaptionJournalCrashTests {
    @Test func killNineLosesNoReportedEntry() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.probe.path), "missing \(Self.probe.path)")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-crash-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("in.mp4").path
        try Data(repeating: 1, count: 10).write(to: URL(fileURLWithPath: input))
        let journalPath = folder.appendingPathComponent("in.vigil-journal").path

        let process = Process()
        process.executableURL = Self.probe
        process.arguments = [journalPath, input, "1000000"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        // Wait until the probe has reported 100 entries, then kill it wherever it is.
        var reported = Data()
        while reported.filter({ $0 == 0x0A }).count < 100 {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            reported += chunk
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)
        reported += output.fileHandleForReading.readDataToEndOfFile()
        let lines = String(decoding: reported, as: UTF8.self).split(separator: "\n")
        let confirmed = lines.count
        #expect(confirmed >= 100)
        #expect(lines.last.flatMap { Int($0) } == confirmed - 1)

        let identity = try JournalIdentity.of(inputAt: input, settings: "probe")
        let contents = try CaptionJournal.read(at: journalPath, identity: identity)
        #expect(contents.entries.count >= confirmed, "reported \(confirmed), journal holds \(contents.entries.count)")
        #expect(contents.entries == (0..<contents.entries.count).map(Self.probeEntry))
        #expect(!contents.isFinished)

        let (journal, resumed) = try CaptionJournal.resume(at: journalPath, identity: identity)
        #expect(resumed.entries.count == contents.entries.count)
        try journal.append(Self.probeEntry(contents.entries.count))
        journal.close()
        let after = try CaptionJournal.read(at: journalPath, identity: identity)
        #expect(after.entries == (0...contents.entries.count).map(Self.probeEntry) && after.discardedBytes == 0)
    }
}
