// A real crash of a session: the session probe (Tests/SessionProbe) commits captions and synopsis states (~120 KB
// each) as fast as it can and is killed with SIGKILL at an arbitrary moment, several times over. After each kill
// the session reopens cleanly: every caption and synopsis the probe reported is there, the captions are exactly a
// prefix of what it wrote (nothing torn, nothing out of order), the saved synopsis is the exact state after its
// frame, the session's progress covers it, the killed run has no end, and the next run continues media time.

import Foundation
import Glibc
import Testing

@testable import Memory
@testable import SessionStore

@Suite(.serialized) struct SessionStoreCrashTests {
    static var probe: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "SessionProbe")
    }

    /// The probe's `probeEntry`.
    static func probeEntry(_ index: Int) -> TextMemoryEntry {
        TextMemoryEntry(
            level: index % 10 == 9 ? .segment : .clip, start: Double(index) * 30, end: Double(index + 1) * 30,
            text: "Probe caption \(index) " + String(repeating: "y", count: index % 300), tokenCount: index % 48,
            createdAt: Date(timeIntervalSince1970: 1_780_000_000 + Double(index)), model: "probe",
            timings: ["latency_ms": Double(index) / 8])
    }

    /// The probe's synopsis after frames 0…`last` (its geometry and tokens).
    static func probeState(through last: Int) throws -> SynopsisState {
        let geometry = try FeatureGeometry(tokenCount: 16, hiddenSize: 128)
        let memory = try FeatureMemory(configuration: FeatureMemoryConfiguration(geometry: geometry))
        for index in 0...last {
            let tokens = (0..<16 * 128).map { Float((index / 20) % 5) + Float(0.01 * sin(Double(index * 1000 + $0))) }
            try memory.ingest(frame: index, tokens: tokens, time: Double(index))
        }
        return memory.synopsisState
    }

    /// Runs the probe on session `name` until it has reported `reports` lines, kills it, and returns its lines.
    static func runAndKill(state: String, name: String, after reports: Int) throws -> [Substring] {
        let process = Process()
        process.executableURL = probe
        process.arguments = [state, name, "1000000"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var reported = Data()
        while reported.filter({ $0 == 0x0A }).count < reports {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            reported += chunk
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)
        reported += output.fileHandleForReading.readDataToEndOfFile()
        return String(decoding: reported, as: UTF8.self).split(separator: "\n")
    }
}

extension SessionStoreCrashTests {
    @Test func killNineLosesNothingCommittedAndTearsNothing() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.probe.path), "missing \(Self.probe.path)")
        let state = try TemporaryFolder("session-crash")
        defer { state.remove() }
        for round in 0..<3 {
            // Each round starts a fresh session, so the probe's frame numbers start at 0 again.
            let name = "crash-\(round)"
            let lines = try Self.runAndKill(state: state.path, name: name, after: 60 + 37 * round)
            let entries = lines.compactMap { $0.hasPrefix("entry ") ? Int($0.dropFirst(6)) : nil }
            let synopses = lines.compactMap { $0.hasPrefix("synopsis ") ? Int($0.dropFirst(9)) : nil }
            #expect(entries.count >= 40 && entries == Array(0..<entries.count))

            let store = try SessionStore.open(name: name, stateDirectory: state.path, create: false)
            defer { store.close() }
            let stored = try store.entries()
            #expect(stored.count >= entries.count, "reported \(entries.count), stored \(stored.count)")
            #expect(stored == (0..<stored.count).map(Self.probeEntry))
            let saved = try #require(try store.latestSynopsis())
            let lastFrame = try #require(saved.lastFrame)
            #expect(lastFrame >= (synopses.last ?? -1) && lastFrame % 3 == 2 && lastFrame < stored.count)
            #expect(saved.state == (try Self.probeState(through: lastFrame)))
            #expect(saved.lastMediaTime == Double(lastFrame))
            let metadata = try store.metadata()
            #expect(metadata.lastFrame == lastFrame && metadata.lastMediaTime == Double(stored.count) * 30)
            try store.verify()

            let runs = try store.runs()
            #expect(runs.count == 1 && runs[0].endedAt == nil)
            let next = try store.beginRun(frameInterval: 1)
            #expect(next.number == 2 && next.firstFrame == lastFrame + 1)
            #expect(next.mediaTimeOffset == Double(stored.count) * 30 + 1)
            try store.append(Self.probeEntry(stored.count))
            #expect(try store.entries() == (0...stored.count).map(Self.probeEntry))
        }
    }
}
