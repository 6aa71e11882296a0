// Persistent sessions through the library API (docs/memory.md, "Persistence"): a session stopped and started
// again under the same name has every caption, summary and standing question of its first run before it ingests a
// frame, and media time continues where the first run ended; a damaged or foreign database is a clear error that
// leaves the file as it was. (The SIGKILL case is in VigilCLITests/SessionsCLITests; the store itself in
// MemoryTests/SessionStoreTests.)

import Foundation
import Memory
import SessionStore
import SmolVLM
import Streaming
import Testing
import TestSupport
import VigilCore

@Suite(.serialized, .holdingSerialLock) struct PersistentSessionTests {
    static let model = TextMemoryTests.model

    static func stateFolder(_ name: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-persist-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    static func configuration(state: String) -> SessionConfiguration {
        var c = SessionConfiguration()
        c.pruner.keep = 4
        c.retrievalMiB = 2
        c.maxAnswerTokens = 8
        c.memory = TextMemorySchedule(clipSeconds: 10, segmentSeconds: 30)
        c.statusInterval = 3600
        c.persistentSession = PersistentSession(name: "yard", stateDirectory: state)
        return c
    }

    @Test func aRestartedSessionHasItsMemoryAndMediaTimeContinues() async throws {
        let source = try TextMemoryTests.clip(seconds: 65)
        let state = try Self.stateFolder("restart")
        let c = Self.configuration(state: state)

        let first = try LiveSession(model: Self.model, source: source, configuration: c)
        first.start()
        await first.waitUntilIdle()
        let id = first.watchFor("tell me when the door opens")
        let before = await first.memoryEntries()
        var registered = await first.standingQuestions()
        for _ in 0..<200 where registered.isEmpty {  // registration is a task of its own
            try await Task.sleep(nanoseconds: 10_000_000)
            registered = await first.standingQuestions()
        }
        let firstStatus = await first.stop()
        #expect(before.filter { $0.level == .clip }.count >= 5)
        #expect(firstStatus.counters.persistErrors == 0)

        let second = try LiveSession(model: Self.model, source: source, configuration: c)
        #expect(await second.memoryEntries() == before, "every entry of the first run, before a frame is read")
        let standing = await second.standingQuestions()
        #expect(registered.map(\.condition) == ["the door opens"] && registered.map(\.id) == [id])
        #expect(standing.map(\.condition) == ["the door opens"] && standing.map(\.id) == [id], "\(standing)")
        second.start()
        await second.waitUntilIdle()
        let after = await second.memoryEntries()
        let secondStatus = await second.stop()
        #expect(Array(after.prefix(before.count)) == before)
        let newClips = after.dropFirst(before.count).filter { $0.level == .clip }
        #expect(newClips.count >= 5, "the second run captions its own 65 s")
        let lastBefore = try #require(before.filter { $0.level == .clip }.map(\.end).max())
        #expect(newClips.allSatisfy { $0.start >= lastBefore }, "media time continues: \(newClips.map(\.start))")
        #expect((secondStatus.mediaTime ?? 0) >= 64 + 64, "media time \(secondStatus.mediaTime ?? 0) continues past the first run")

        let store = try SessionStore.open(name: "yard", stateDirectory: state, create: false)
        defer { store.close() }
        let runs = try store.runs()
        #expect(runs.count == 2)
        #expect(runs.last.map { $0.mediaTimeOffset >= 64 } == true, "\(runs)")
        #expect(try store.entries() == after)
        #expect(try store.latestSynopsis() != nil, "the cluster state is saved at stop")
    }

    @Test func aDamagedOrForeignDatabaseIsAClearErrorAndLeftAlone() throws {
        let source = try TextMemoryTests.clip(seconds: 65)
        let state = try Self.stateFolder("damaged")
        let folder = state + "/sessions/yard"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let damaged = Data("SQLite format 3\u{0}".utf8) + Data(repeating: 0xA5, count: 8_192)
        let database = folder + "/session.sqlite"
        for bytes in [damaged, Data("not a database at all\n".utf8)] {
            try bytes.write(to: URL(fileURLWithPath: database))
            do {
                _ = try LiveSession(model: Self.model, source: source, configuration: Self.configuration(state: state))
                Issue.record("a damaged database was opened")
            } catch {
                let message = (error as? any UserFacingError)?.description ?? "\(error)"
                #expect(message.contains(database), "\(message)")
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: database)) == bytes, "the file is left as it was")
        }
    }
}
