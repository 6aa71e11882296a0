// SessionStore: round trips of metadata, captions, synopsis, runs, standing questions and the feature memory's
// settings; one writer per session; files that are not healthy Vigil sessions (garbage, empty, truncated, another
// application's database, a newer schema) are refused with clear errors and left byte for byte as they were;
// listing, removing and exporting sessions (the exported SRT and WebVTT pass the strict parsers).

import Foundation
import Glibc
import Testing

@testable import Memory
@testable import SessionStore
import TestSupport

@Suite struct SessionStoreTests {
    /// A state folder of its own.
    static func stateFolder() throws -> TemporaryFolder { try TemporaryFolder("sessions") }

    static func entry(_ i: Int, level: TextMemoryEntry.Level = .clip) -> TextMemoryEntry {
        TextMemoryEntry(
            level: level, start: Double(i) * 30, end: Double(i + 1) * 30, text: "Caption <\(i)> & more --> here",
            tokenCount: 7 + i, createdAt: Date(timeIntervalSince1970: 1_780_000_000.123 + Double(i)),
            model: i % 2 == 0 ? "SmolVLM2-256M-Video-Instruct" : nil,
            timings: i % 3 == 0 ? [:] : ["latency_ms": 310.25 + Double(i), "prefill_ms": 1e-3])
    }

    static func synopsisState(frames: Int) throws -> SynopsisState {
        let geometry = try FeatureGeometry(tokenCount: 4, hiddenSize: 8)
        let memory = try FeatureMemory(configuration: FeatureMemoryConfiguration(geometry: geometry))
        var random = TestRandom(seed: 4)
        for frame in 0..<frames {
            try memory.ingest(frame: frame, tokens: random.normals(geometry.frameValueCount), time: Double(frame) / 2)
        }
        return memory.synopsisState
    }

    /// Expects `body` to throw a SessionStoreError for which `matches` holds and whose text names `path`.
    static func expectRefusal(
        _ path: String, _ matches: (SessionStoreError) -> Bool, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () throws -> Void
    ) {
        do {
            try body()
            Issue.record("no error", sourceLocation: sourceLocation)
        } catch let error as SessionStoreError {
            #expect(matches(error), "\(error)", sourceLocation: sourceLocation)
            #expect(error.description.contains(path), "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("not a SessionStoreError: \(error)", sourceLocation: sourceLocation)
        }
    }

    static func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }
}

extension SessionStoreTests {
    @Test func everythingWrittenReadsBackAfterReopening() throws {
        let state = try Self.stateFolder()
        defer { state.remove() }
        var store: SessionStore? = try SessionStore.open(name: "cam-1", stateDirectory: state.path, create: true)
        let path = store!.databasePath
        #expect(path == state.path + "/sessions/cam-1/session.sqlite")
        #expect(store!.bankDirectory == state.path + "/sessions/cam-1/bank")
        let created = try store!.metadata()
        #expect(created.name == "cam-1" && created.settingsJSON == "{}" && created.lastFrame == nil)

        try store!.updateMetadata {
            $0.source = "rtsp://camera.local/stream"
            $0.model = "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"
            $0.settingsJSON = #"{"fps":1,"clip_seconds":30}"#
            $0.name = "renamed"  // ignored
        }
        let first = try store!.beginRun()
        #expect(first.number == 1 && first.mediaTimeOffset == 0 && first.firstFrame == 0)

        let entries =
            (0..<40).map { Self.entry($0, level: $0 % 10 == 9 ? .segment : .clip) } + [Self.entry(40, level: .summary)]
        for entry in entries.prefix(20) { try store!.append(entry) }
        try store!.append(contentsOf: Array(entries.dropFirst(20)))
        #expect(try store!.entries() == entries)
        #expect(try store!.entries(level: .segment) == entries.filter { $0.level == .segment })
        #expect(try store!.entryCounts() == [.clip: 36, .segment: 4, .summary: 1])

        let synopsis = try Self.synopsisState(frames: 50)
        try store!.saveSynopsis(synopsis, lastFrame: 49, mediaTime: 24.5)
        let geometry = try FeatureGeometry(tokenCount: 16, hiddenSize: 32)
        var featureMemory = FeatureMemoryConfiguration(
            bank: FeatureBank.Configuration(geometry: geometry, ramSeconds: 600, fileByteCap: 1 << 30),
            synopsis: Synopsis.Configuration(clusterCount: 8, mode: .contiguous, seed: UInt64.max - 5),
            detailCandidateLimit: 40)
        featureMemory.globalKeys.threshold = 5_000
        featureMemory.globalKeys.hnsw.seed = 1 << 60
        try store!.setFeatureMemory(featureMemory)

        let asked = try store!.addStandingQuestion("Tell me when a truck arrives", pollInterval: 5, mediaTime: 12)
        let other = try store!.addStandingQuestion("Notify me if the door opens", pollInterval: 2)
        try store!.markFired(asked.id, mediaTime: 95.5, answer: "Yes, a red truck.")
        try store!.cancelStandingQuestion(other.id)
        let third = try store!.addStandingQuestion("Is anyone at the desk?", pollInterval: 10, mediaTime: 100)
        try store!.setPollInterval(third.id, to: 20)
        #expect(throws: SessionStoreError.unknownStandingQuestion(id: 999)) {
            try store!.markFired(999, mediaTime: 1, answer: "")
        }
        store!.close()
        store = nil

        // Reopened: everything is there.
        let reopened = try SessionStore.open(name: "cam-1", stateDirectory: state.path, create: false)
        defer { reopened.close() }
        let metadata = try reopened.metadata()
        #expect(metadata.name == "cam-1" && metadata.createdAt == created.createdAt)
        #expect(
            metadata.source == "rtsp://camera.local/stream" && metadata.settingsJSON == #"{"fps":1,"clip_seconds":30}"#)
        #expect(metadata.lastFrame == 49 && metadata.lastMediaTime == 41 * 30)
        #expect(try reopened.entries() == entries)
        let saved = try #require(try reopened.latestSynopsis())
        #expect(saved.state == synopsis && saved.lastFrame == 49 && saved.lastMediaTime == 24.5)
        var expected = featureMemory
        expected.bank.directory = reopened.bankDirectory
        #expect(try reopened.featureMemoryConfiguration() == expected)

        let questions = try reopened.standingQuestions()
        #expect(questions.map(\.id) == [asked.id, other.id, third.id])
        #expect(
            questions[0].state == .fired && questions[0].answer == "Yes, a red truck."
                && questions[0].firedMediaTime == 95.5)
        #expect(questions[0].createdMediaTime == 12 && questions[0].pollInterval == 5 && questions[0].firedAt != nil)
        #expect(questions[1].state == .cancelled && questions[1].createdMediaTime == nil)
        #expect(questions[2].pollInterval == 20 && questions[2].state == .active)
        #expect(try reopened.standingQuestions(state: .active).map(\.id) == [third.id])
        try reopened.reactivateStandingQuestion(other.id)
        #expect(try reopened.standingQuestion(id: other.id)?.state == .active)
        try reopened.removeStandingQuestion(other.id)
        #expect(try reopened.standingQuestion(id: other.id) == nil)
        let fourth = try reopened.addStandingQuestion("Again?", pollInterval: 1)
        #expect(fourth.id > third.id)  // ids are never reused

        // The second run continues media time after everything recorded (and after a newer bank frame).
        let runs = try reopened.runs()
        #expect(runs.count == 1 && runs[0].endedAt != nil)
        let second = try reopened.beginRun(after: (id: 60, time: 1_300), frameInterval: 0.5)
        #expect(second.number == 2 && second.firstFrame == 61 && second.mediaTimeOffset == 1_300.5)
        #expect(second.wallClock(atMediaTime: 1_310.5) == second.startedAt.addingTimeInterval(10))
        let third2 = try reopened.beginRun(frameInterval: 1)
        #expect(third2.firstFrame == 50 && third2.mediaTimeOffset == 41 * 30 + 1)
        try reopened.recordProgress(frame: 70, mediaTime: 2_000)
        #expect(try reopened.metadata().lastFrame == 70 && reopened.metadata().lastMediaTime == 2_000)
        try reopened.verify()
    }

    @Test func badValuesAreRefused() throws {
        let state = try Self.stateFolder()
        defer { state.remove() }
        let store = try SessionStore.open(name: "values", stateDirectory: state.path, create: true)
        defer { store.close() }
        #expect(throws: SessionStoreError.self) { try store.updateMetadata { $0.settingsJSON = "[1, 2]" } }
        #expect(throws: SessionStoreError.self) { try store.addStandingQuestion("q", pollInterval: 0) }
        #expect(throws: SessionStoreError.self) { try store.beginRun(frameInterval: -1) }
        #expect(throws: SessionStoreError.self) { try store.recordProgress(frame: 1, mediaTime: .nan) }
        #expect(throws: SessionStoreError.self) {
            try store.append(
                TextMemoryEntry(level: .clip, start: 0, end: 1, text: "x", tokenCount: 1, timings: ["a": .infinity]))
        }
        #expect(try store.entries().isEmpty && store.metadata().settingsJSON == "{}")
        try store.discardSynopsis()
        #expect(try store.latestSynopsis() == nil)
    }

    @Test func namesAreCheckedAndSessionsHaveOneWriter() throws {
        let state = try Self.stateFolder()
        defer { state.remove() }
        for bad in ["", ".hidden", "../escape", "a/b", "space name", String(repeating: "x", count: 65), "ünïcode"] {
            #expect(throws: SessionStoreError.invalidName(name: bad)) {
                try SessionStore.open(name: bad, stateDirectory: state.path, create: true)
            }
        }
        #expect(SessionStore.isValidName("Cam_1.main-2"))
        Self.expectRefusal(state.path + "/sessions/absent", { if case .notFound = $0 { true } else { false } }) {
            _ = try SessionStore.open(name: "absent", stateDirectory: state.path, create: false)
        }
        #expect(access(state.path + "/sessions/absent", F_OK) != 0)  // not created by a failed open
        let store = try SessionStore.open(name: "busy", stateDirectory: state.path, create: true)
        Self.expectRefusal(state.path + "/sessions/busy", { if case .inUse = $0 { true } else { false } }) {
            _ = try SessionStore.open(name: "busy", stateDirectory: state.path, create: true)
        }
        Self.expectRefusal(state.path + "/sessions/busy", { if case .inUse = $0 { true } else { false } }) {
            try SessionStore.remove(name: "busy", stateDirectory: state.path)
        }
        #expect(try SessionStore.summary(name: "busy", stateDirectory: state.path).isInUse)
        store.close()
        #expect(try !SessionStore.summary(name: "busy", stateDirectory: state.path).isInUse)
        try SessionStore.remove(name: "busy", stateDirectory: state.path)
        #expect(access(state.path + "/sessions/busy", F_OK) != 0)
    }

    @Test func aCreationCutShortLeavesNoSession() throws {
        let state = try Self.stateFolder()
        defer { state.remove() }
        let folder = state.path + "/sessions/half"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data("half-written".utf8).write(to: URL(fileURLWithPath: folder + "/.session.sqlite.creating"))
        Self.expectRefusal(folder, { if case .notFound = $0 { true } else { false } }) {
            _ = try SessionStore.open(name: "half", stateDirectory: state.path, create: false)
        }
        let store = try SessionStore.open(name: "half", stateDirectory: state.path, create: true)
        defer { store.close() }
        #expect(try store.metadata().name == "half")
        #expect(access(folder + "/.session.sqlite.creating", F_OK) != 0)
    }

    @Test func theStateFolderFollowsTheEnvironment() {
        #expect(
            SessionStore.defaultStateDirectory(environment: ["VIGIL_STATE": "/srv/vigil", "HOME": "/h"]) == "/srv/vigil"
        )
        #expect(SessionStore.defaultStateDirectory(environment: ["XDG_STATE_HOME": "/x", "HOME": "/h"]) == "/x/vigil")
        #expect(SessionStore.defaultStateDirectory(environment: ["HOME": "/home/me"]) == "/home/me/.local/state/vigil")
        #expect(SessionStore.sessionsDirectory(stateDirectory: "/s") == "/s/sessions")
    }

    @Test func databasesThatAreNotHealthyVigilSessionsAreRefusedAndLeftUntouched() throws {
        let state = try Self.stateFolder()
        defer { state.remove() }
        func prepare(_ name: String, _ write: (String) throws -> Void) throws -> String {
            let folder = state.path + "/sessions/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let path = folder + "/session.sqlite"
            try write(path)
            return path
        }
        func expectUntouched(_ path: String, _ matches: @escaping (SessionStoreError) -> Bool) throws {
            let name = URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent
            let before = try #require(Self.bytes(path))
            let siblings = try FileManager.default.contentsOfDirectory(
                atPath: (path as NSString).deletingLastPathComponent)
            for create in [false, true] {
                Self.expectRefusal(path, matches) {
                    _ = try SessionStore.open(name: name, stateDirectory: state.path, create: create)
                }
            }
            Self.expectRefusal(path, matches) {
                try SessionStore.export(name: name, stateDirectory: state.path, formats: [.srt], to: state.path)
            }
            #expect(Self.bytes(path) == before, "\(path) changed")
            let after = try FileManager.default.contentsOfDirectory(
                atPath: (path as NSString).deletingLastPathComponent)
            #expect(Set(after) == Set(siblings).union(["session.lock"]), "\(after)")
            let summary = try SessionStore.summary(name: name, stateDirectory: state.path)
            #expect(summary.metadata == nil && summary.problem?.contains(path) == true)
        }
        func isNotADatabase(_ e: SessionStoreError) -> Bool { if case .notADatabase = e { true } else { false } }
        func isForeign(_ e: SessionStoreError) -> Bool { if case .foreignDatabase = e { true } else { false } }
        func isCorrupt(_ e: SessionStoreError) -> Bool { if case .corruptDatabase = e { true } else { false } }

        var random = TestRandom(seed: 8)
        let garbage = try prepare("garbage") {
            try Data((0..<8192).map { _ in UInt8(truncatingIfNeeded: random.next()) }).write(
                to: URL(fileURLWithPath: $0))
        }
        try expectUntouched(garbage, isNotADatabase)
        let empty = try prepare("empty") { try Data().write(to: URL(fileURLWithPath: $0)) }
        try expectUntouched(empty, isNotADatabase)
        let text = try prepare("text") {
            try Data(String(repeating: "not sqlite\n", count: 200).utf8).write(to: URL(fileURLWithPath: $0))
        }
        try expectUntouched(text, isNotADatabase)

        // Another application's database: other tables, application id 0.
        let foreign = try prepare("foreign") { path in
            let db = try SQLiteConnection.openCreating(path)
            try db.execute(
                "CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT); INSERT INTO photos (path) VALUES ('a.jpg')")
            db.close()
        }
        try expectUntouched(foreign, isForeign)
        // Another application id, in WAL mode, with Vigil's tables.
        let otherApp = try prepare("other-app") { path in
            let db = try SQLiteConnection.openCreating(path)
            try db.execute("PRAGMA journal_mode = WAL; PRAGMA application_id = 1234; PRAGMA user_version = 1")
            try db.execute(SessionStore.schema)
            db.close()
        }
        try expectUntouched(otherApp, isForeign)

        // A newer Vigil's session.
        let newer = try prepare("newer") { path in
            let db = try SQLiteConnection.openCreating(path)
            try db.execute("PRAGMA application_id = \(SessionStore.applicationID); PRAGMA user_version = 2")
            try db.execute(SessionStore.schema)
            db.close()
        }
        try expectUntouched(newer) { if case .newerDatabase(_, 2, 1) = $0 { true } else { false } }
        // Vigil's id but a table missing.
        let missing = try prepare("missing") { path in
            let db = try SQLiteConnection.openCreating(path)
            try db.execute("PRAGMA application_id = \(SessionStore.applicationID); PRAGMA user_version = 1")
            try db.execute(SessionStore.schema + "; DROP TABLE standing_questions")
            db.close()
        }
        try expectUntouched(missing, isCorrupt)

        // A real session, truncated; and one with a damaged page.
        let real = try SessionStore.open(name: "truncated", stateDirectory: state.path, create: true)
        for i in 0..<400 { try real.append(Self.entry(i)) }
        try real.saveSynopsis(try Self.synopsisState(frames: 30))
        real.close()
        let truncated = real.databasePath
        let whole = try #require(Self.bytes(truncated))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: truncated))
        try expectUntouched(truncated) { isCorrupt($0) || isNotADatabase($0) }
        let damaged = try prepare("damaged") { path in
            var bytes = whole
            for i in 4096..<(4096 + 4096) { bytes[i] = 0xA5 }  // page 2: a b-tree page of garbage
            try bytes.write(to: URL(fileURLWithPath: path))
        }
        try expectUntouched(damaged) { isCorrupt($0) || isNotADatabase($0) }
        // A session folder without its database is listed with a problem, not created silently.
        try FileManager.default.createDirectory(
            atPath: state.path + "/sessions/nodb", withIntermediateDirectories: true)
        #expect(try SessionStore.summary(name: "nodb", stateDirectory: state.path).problem != nil)
    }

    @Test func sessionsAreListedRemovedAndExported() throws {
        let state = try Self.stateFolder()
        defer { state.remove() }
        #expect(try SessionStore.listSessions(stateDirectory: state.path).isEmpty)
        let entries =
            (0..<12).map { Self.entry($0) } + [Self.entry(12, level: .segment), Self.entry(12, level: .summary)]
        for name in ["b-lobby", "a-door"] {
            let store = try SessionStore.open(name: name, stateDirectory: state.path, create: true)
            try store.updateMetadata { $0.source = "rtsp://\(name)" }
            try store.append(contentsOf: entries)
            _ = try store.addStandingQuestion("Tell me when it rains", pollInterval: 5)
            _ = try store.beginRun()
            store.close()
        }
        let broken = state.path + "/sessions/c-broken"
        try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: broken + "/session.sqlite"))
        try Data().write(to: URL(fileURLWithPath: state.path + "/sessions/not-a-folder"))

        let listed = try SessionStore.listSessions(stateDirectory: state.path)
        #expect(listed.map(\.name) == ["a-door", "b-lobby", "c-broken"])
        #expect(listed[0].metadata?.source == "rtsp://a-door" && listed[0].problem == nil)
        #expect(
            listed[0].entryCounts == [.clip: 12, .segment: 1, .summary: 1] && listed[0].questionCounts == [.active: 1])
        #expect(listed[0].runCount == 1 && listed[0].bytes > 0 && !listed[0].isInUse)
        #expect(listed[2].metadata == nil && listed[2].problem?.contains("not a session database") == true)

        // Export while the session is open for writing.
        let live = try SessionStore.open(name: "a-door", stateDirectory: state.path, create: false)
        let out = state.path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let paths = try SessionStore.export(
            name: "a-door", stateDirectory: state.path, formats: [.srt, .vtt, .jsonl], to: out)
        live.close()
        #expect(paths == [out + "/a-door.srt", out + "/a-door.vtt", out + "/a-door.jsonl"])
        let srt = try SubtitleParsers.srt(String(decoding: try #require(Self.bytes(paths[0])), as: UTF8.self))
        let vtt = try SubtitleParsers.webVTT(String(decoding: try #require(Self.bytes(paths[1])), as: UTF8.self))
        #expect(srt.count == 12 && vtt.cues.count == 12)
        #expect(srt[3].start == 90_000 && srt[3].end == 120_000 && srt[3].text == "Caption ‹3> & more -> here")
        #expect(vtt.cues[3].text == "Caption <3> & more --> here")
        let lines = String(decoding: try #require(Self.bytes(paths[2])), as: UTF8.self).split(separator: "\n")
        #expect(try lines.map { try TextMemoryEntry(jsonLine: String($0)) } == CaptionWriter.availabilityOrder(entries))
        Self.expectRefusal(state.path + "/sessions/zzz", { if case .notFound = $0 { true } else { false } }) {
            try SessionStore.export(name: "zzz", stateDirectory: state.path, formats: [.srt], to: out)
        }

        try SessionStore.remove(name: "b-lobby", stateDirectory: state.path)
        try SessionStore.remove(name: "c-broken", stateDirectory: state.path)  // a damaged session can be removed
        #expect(try SessionStore.listSessions(stateDirectory: state.path).map(\.name) == ["a-door"])
        Self.expectRefusal(state.path + "/sessions/b-lobby", { if case .notFound = $0 { true } else { false } }) {
            try SessionStore.remove(name: "b-lobby", stateDirectory: state.path)
        }
    }
}
