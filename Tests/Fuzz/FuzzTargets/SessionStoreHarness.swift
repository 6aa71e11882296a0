// Fuzz harness: a persistent session's database read back at start (`vigil watch --session NAME`, a server source
// after a restart, `vigil sessions`). The input is the `session.sqlite` file. The harness lists and summarises the
// session without taking it over, then opens it as a session does and, when it opens, reads everything a restore
// reads (metadata, runs, entries, the synopsis state, standing questions, the feature-memory settings), begins a
// run and appends a caption, and reads the entries back. A refusal (not a database, foreign, newer, damaged) is the
// expected outcome for most inputs; SQLite itself is fuzzed by OSS-Fuzz, this covers Vigil's checks and reads.

import Foundation
import Memory
import SessionStore

enum SessionStoreHarness {
    static func run(_ input: [UInt8]) {
        let state = Scratch.emptyFolder("session-store")
        Scratch.write(input, to: "sessions/fuzz/session.sqlite", in: state)
        _ = try? SessionStore.listSessions(stateDirectory: state.path)
        _ = try? SessionStore.summary(name: "fuzz", stateDirectory: state.path)
        guard let store = try? SessionStore.open(name: "fuzz", stateDirectory: state.path, create: false) else { return }
        defer { store.close() }
        _ = try? store.metadata()
        _ = try? store.runs()
        let before = (try? store.entries()) ?? []
        _ = try? store.entryCounts()
        if let saved = try? store.latestSynopsis() { _ = try? Synopsis(restoring: saved.state) }
        _ = try? store.standingQuestions()
        _ = try? store.featureMemoryConfiguration()
        _ = try? store.beginRun(after: nil, frameInterval: 1)
        let start = (before.map(\.end).max() ?? 0).isFinite ? (before.map(\.end).max() ?? 0) : 0
        let entry = TextMemoryEntry(
            level: .clip, start: start, end: start + 30, text: "next", tokenCount: 1,
            createdAt: Date(timeIntervalSince1970: 1_780_000_000))
        if (try? store.append(entry)) != nil, let after = try? store.entries() {
            precondition(after.last == entry, "an appended caption does not read back")
        }
    }
}
