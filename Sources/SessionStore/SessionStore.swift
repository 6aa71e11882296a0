// A named session's persistent memory (docs/memory.md, "Persistence"): captions and summaries, the synopsis state,
// the feature memory's settings, runs and standing questions in one SQLite database, next to the feature bank's
// segment files, under the state folder:
//
//   ${VIGIL_STATE:-${XDG_STATE_HOME:-~/.local/state}/vigil}/sessions/NAME/
//       session.sqlite (+ -wal, -shm)   this store (WAL, synchronous=FULL)
//       session.lock                    flock: one process writes a session at a time
//       bank/                           FeatureBank segment files, and the global-key graph (global-keys.hnsw-*)
//
// Opening never changes a file it refuses: the header is read first (not SQLite → notADatabase), then a read-only
// connection checks `application_id` (another application → foreignDatabase), `user_version` (newer →
// newerDatabase), `PRAGMA quick_check` and the tables (damaged → corruptDatabase); only then is the file opened for
// writing. A new database is built under a temporary name and renamed into place, so a crash while creating leaves
// no half-made session.sqlite. Every write is one transaction; with WAL and synchronous=FULL a committed write
// survives a SIGKILL and a power cut, and an interrupted one leaves the previous state.
//
// Thread-safety: a SessionStore is thread-safe (one pthread mutex serialises its calls; each is short), so the
// session actor and a captioning task may share it. One per session and process: a second open of the same
// session throws `inUse`, from this process or another.

import CSQLite
import Foundation
import Glibc
import Memory
import VigilCore

/// The persistent memory of one named session. Thread-safe.
public final class SessionStore: @unchecked Sendable {
    // @unchecked: `connection` is only used under `mutex`; everything else is immutable.

    /// How the database is opened.
    public struct Options: Sendable, Hashable {
        /// SQLite's `synchronous` setting in WAL mode (default full).
        public enum Durability: String, Sendable, Hashable {
            /// fsync the WAL at every commit: a committed write survives a power cut (the default; writes are rare,
            /// a few per minute, so the fsync costs nothing that matters).
            case full = "FULL"
            /// fsync only at checkpoints: a committed write survives a crash of the process (SIGKILL), not
            /// necessarily a power cut.
            case normal = "NORMAL"
        }

        /// How much of the file is checked on opening.
        public enum Check: String, Sendable, Hashable {
            /// `PRAGMA quick_check` (every page and record format, not index contents; the default).
            case quick
            /// `PRAGMA integrity_check` (also indexes against tables; slower on large databases).
            case full
        }

        /// Durability of commits.
        public var durability: Durability
        /// The check on opening.
        public var check: Check

        /// The defaults: full durability, quick check.
        public init(durability: Durability = .full, check: Check = .quick) {
            self.durability = durability
            self.check = check
        }
    }

    /// The schema version this Vigil writes and reads (`PRAGMA user_version`).
    public static let schemaVersion = 1
    /// `PRAGMA application_id` of session databases: "VGSS".
    public static let applicationID: Int32 = 0x5647_5353

    /// The session's name.
    public let name: String
    /// The session's folder.
    public let directory: String
    /// The database file.
    public var databasePath: String { directory + "/session.sqlite" }
    /// The feature bank's folder (`FeatureBank.Configuration.directory`); the global-key graph is saved there too.
    public var bankDirectory: String { directory + "/bank" }

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var connection: SQLiteConnection?
    private let lock: SessionLock

    // MARK: - Opening

    /// Opens the session `name` under `stateDirectory` (default: `defaultStateDirectory()`); with `create`, makes
    /// it when it does not exist. Throws `notFound` without `create`, `inUse` when another store has it open, and
    /// `notADatabase`, `foreignDatabase`, `newerDatabase` or `corruptDatabase` — leaving the file as it was — when
    /// its database is not a healthy Vigil session.
    public static func open(
        name: String, stateDirectory: String? = nil, create: Bool, options: Options = Options()
    ) throws(SessionStoreError) -> SessionStore {
        let folder = try sessionDirectory(name: name, stateDirectory: stateDirectory)
        let database = folder + "/session.sqlite"
        if access(folder, F_OK) != 0 {
            guard create else { throw .notFound(name: name, path: folder) }
            try makeDirectories(folder)
        }
        let lock = try SessionLock(path: folder + "/session.lock", name: name)
        if access(database, F_OK) != 0 {
            guard create else { throw .notFound(name: name, path: database) }
            try createDatabase(at: database, name: name)
        }
        try validate(database, check: options.check).close()
        let connection: SQLiteConnection
        do throws(SQLiteFailure) {
            connection = try SQLiteConnection(path: database, flags: SQLITE_OPEN_READWRITE)
            let mode = try connection.scalar("PRAGMA journal_mode = WAL")
            guard mode == .text("wal") else {
                throw SQLiteFailure(code: SQLITE_ERROR, message: "journal mode is \(String(describing: mode))")
            }
            try connection.execute("PRAGMA synchronous = \(options.durability.rawValue); PRAGMA foreign_keys = ON")
            try connection.execute("PRAGMA busy_timeout = 5000")
        } catch {
            throw failure(error, path: database, operation: "opening for writing")
        }
        return SessionStore(name: name, directory: folder, connection: connection, lock: lock)
    }

    private init(name: String, directory: String, connection: SQLiteConnection, lock: SessionLock) {
        self.name = name
        self.directory = directory
        self.connection = connection
        self.lock = lock
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        close()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Ends the current run (its `endedAt`), closes the database (checkpointing the WAL into it) and releases the
    /// session. Idempotent; using the store afterwards is a programmer error.
    public func close() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard let connection else { return }
        try? connection.run(
            "UPDATE runs SET ended_at = ? WHERE run = (SELECT max(run) FROM runs) AND ended_at IS NULL",
            [.integer(Milliseconds.of(Date()))])
        connection.close()
        self.connection = nil
        lock.release()
    }

    /// The state folder: `$VIGIL_STATE`, else `$XDG_STATE_HOME/vigil`, else `~/.local/state/vigil`.
    public static func defaultStateDirectory(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        if let state = environment["VIGIL_STATE"], !state.isEmpty { return state }
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") { return xdg + "/vigil" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/state/vigil"
    }

    /// The folder of session `name`: `<state>/sessions/<name>`; throws for names that are not plain folder names.
    public static func sessionDirectory(name: String, stateDirectory: String? = nil) throws(SessionStoreError)
        -> String
    {
        guard isValidName(name) else { throw .invalidName(name: name) }
        return sessionsDirectory(stateDirectory: stateDirectory) + "/" + name
    }

    /// `<state>/sessions`.
    public static func sessionsDirectory(stateDirectory: String? = nil) -> String {
        (stateDirectory ?? defaultStateDirectory()) + "/sessions"
    }

    /// True for 1–64 letters, digits, `.`, `_`, `-`, starting with a letter or digit.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        func isAlphanumeric(_ b: UInt8) -> Bool {
            (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b)
        }
        return isAlphanumeric(bytes[0]) && bytes.allSatisfy { isAlphanumeric($0) || $0 == 46 || $0 == 95 || $0 == 45 }
    }

    // MARK: - Metadata and runs

    /// The session's metadata.
    public func metadata() throws(SessionStoreError) -> SessionMetadata {
        try withConnection("reading the metadata") { (db) throws(SQLiteFailure) in try Self.readMetadata(db) }
    }

    /// Changes the metadata with `change` in one transaction (name and creation time stay); returns the result.
    @discardableResult
    public func updateMetadata(_ change: (inout SessionMetadata) -> Void) throws(SessionStoreError) -> SessionMetadata {
        try transaction("updating the metadata") { (db) throws(SessionStoreError) -> SessionMetadata in
            var metadata = try sqlite("reading the metadata") { () throws(SQLiteFailure) in try Self.readMetadata(db) }
            let fixed = (metadata.name, metadata.createdAt)
            change(&metadata)
            (metadata.name, metadata.createdAt) = fixed
            guard Self.isJSONObject(metadata.settingsJSON) else {
                throw .invalidValue(
                    setting: "settings", detail: "'\(metadata.settingsJSON.prefix(80))' is not a JSON object")
            }
            metadata.updatedAt = Milliseconds.rounded(Date())
            try sqlite("updating the metadata") { () throws(SQLiteFailure) in
                try db.run(
                    "UPDATE session SET source = ?, model = ?, settings = ?, updated_at = ?, last_frame = ?, "
                        + "last_media_time = ? WHERE id = 1",
                    [
                        .text(metadata.source), .text(metadata.model), .text(metadata.settingsJSON),
                        .integer(Milliseconds.of(metadata.updatedAt)), .integer(metadata.lastFrame),
                        .real(metadata.lastMediaTime),
                    ])
            }
            return metadata
        }
    }

    /// Records that frame `frame` at media time `mediaTime` was reached (keeps the newest of what is recorded).
    public func recordProgress(frame: Int, mediaTime: Double) throws(SessionStoreError) {
        try checkFinite(mediaTime, "progress media time")
        try withConnection("recording progress") { (db) throws(SQLiteFailure) in
            try db.run(
                "UPDATE session SET last_frame = max(coalesce(last_frame, ?1), ?1), "
                    + "last_media_time = max(coalesce(last_media_time, ?2), ?2), updated_at = ?3 WHERE id = 1",
                [.integer(Int64(frame)), .real(mediaTime), .integer(Milliseconds.of(Date()))])
        }
    }

    /// Keeps the feature memory's settings (all but the bank folder, which is always `bankDirectory`).
    public func setFeatureMemory(_ configuration: FeatureMemoryConfiguration) throws(SessionStoreError) {
        let json = FeatureMemoryLayout(configuration).json()
        try withConnection("saving the feature memory settings") { (db) throws(SQLiteFailure) in
            try db.run(
                "UPDATE session SET feature_memory = ?, updated_at = ? WHERE id = 1",
                [.text(json), .integer(Milliseconds.of(Date()))])
        }
    }

    /// The feature memory's settings as saved, with the bank in `bankDirectory` (nil when none were saved).
    public func featureMemoryConfiguration() throws(SessionStoreError) -> FeatureMemoryConfiguration? {
        let text = try withConnection("reading the feature memory settings") { (db) throws(SQLiteFailure) in
            try db.scalar("SELECT feature_memory FROM session WHERE id = 1")
        }
        guard case .text(let json)? = text else { return nil }
        guard let configuration = FeatureMemoryLayout.parse(json)?.configuration(bankDirectory: bankDirectory) else {
            throw .corruptDatabase(path: databasePath, detail: "its feature memory settings cannot be read")
        }
        return configuration
    }

    /// Starts a run: the next frame number and the media time offset that continue after everything recorded —
    /// the store's progress and `bankLastFrame` (the feature memory's `lastFrame`, which may be newer) — leaving
    /// one `frameInterval` after the newest time. The first run of a new session starts at frame 0, offset 0.
    public func beginRun(after bankLastFrame: (id: Int, time: Double)? = nil, frameInterval: Double = 1)
        throws(SessionStoreError) -> SessionRun
    {
        guard frameInterval > 0, frameInterval.isFinite else {
            throw .invalidValue(setting: "frame interval", detail: "\(frameInterval) s is not positive")
        }
        return try transaction("starting a run") { (db) throws(SessionStoreError) -> SessionRun in
            try sqlite("starting a run") { () throws(SQLiteFailure) -> SessionRun in
                let metadata = try Self.readMetadata(db)
                let lastFrame = [metadata.lastFrame, bankLastFrame?.id].compactMap { $0 }.max()
                let lastTime = [metadata.lastMediaTime, bankLastFrame?.time].compactMap { $0 }.max()
                let previous = try db.scalar("SELECT max(run) FROM runs")
                var number = 1
                if case .integer(let n)? = previous { number = Int(n) + 1 }
                let now = Milliseconds.rounded(Date())
                let run = SessionRun(
                    number: number, startedAt: now, mediaTimeOffset: lastTime.map { $0 + frameInterval } ?? 0,
                    firstFrame: lastFrame.map { $0 + 1 } ?? 0, endedAt: nil)
                try db.run(
                    "INSERT INTO runs (run, started_at, media_time_offset, first_frame) VALUES (?, ?, ?, ?)",
                    [
                        .integer(Int64(number)), .integer(Milliseconds.of(now)), .real(run.mediaTimeOffset),
                        .integer(Int64(run.firstFrame)),
                    ])
                try db.run("UPDATE session SET updated_at = ? WHERE id = 1", [.integer(Milliseconds.of(now))])
                return run
            }
        }
    }

    /// Every run, oldest first.
    public func runs() throws(SessionStoreError) -> [SessionRun] {
        try withConnection("reading the runs") { (db) throws(SQLiteFailure) in try Self.readRuns(db) }
    }

    // MARK: - Text memory

    /// Appends `entry` (one transaction, durable when this returns); returns its position (1, 2, …).
    @discardableResult
    public func append(_ entry: TextMemoryEntry) throws(SessionStoreError) -> Int64 {
        try append(contentsOf: [entry])
    }

    /// Appends `entries` in one transaction (all or none); returns the position of the last (0 for none).
    @discardableResult
    public func append(contentsOf entries: [TextMemoryEntry]) throws(SessionStoreError) -> Int64 {
        guard !entries.isEmpty else { return 0 }
        return try transaction("appending captions") { (db) throws(SessionStoreError) -> Int64 in
            var newest = -Double.infinity
            for entry in entries {
                let timings = JSONValue.object(
                    entry.timings.sorted { $0.key < $1.key }.map { ($0.key, .double($0.value)) })
                guard entry.timings.values.allSatisfy(\.isFinite) else {
                    throw .invalidValue(setting: "caption timings", detail: "a timing is not a finite number")
                }
                try sqlite("appending a caption") { () throws(SQLiteFailure) in
                    try db.run(
                        "INSERT INTO text_entries (level, start, end, text, tokens, created_at, model, timings) "
                            + "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [
                            .text(entry.level.rawValue), .real(entry.start), .real(entry.end), .text(entry.text),
                            .integer(Int64(entry.tokenCount)), .integer(Milliseconds.of(entry.createdAt)),
                            .text(entry.model), .text(timings.serialized()),
                        ])
                }
                newest = max(newest, entry.end)
            }
            return try sqlite("appending captions") { () throws(SQLiteFailure) -> Int64 in
                let position = db.lastInsertRowID
                if newest > -.infinity {
                    try db.run(
                        "UPDATE session SET last_media_time = max(coalesce(last_media_time, ?1), ?1), updated_at = ?2 "
                            + "WHERE id = 1",
                        [.real(newest), .integer(Milliseconds.of(Date()))])
                }
                return position
            }
        }
    }

    /// The entries of `level` (every level when nil), in the order they were appended.
    public func entries(level: TextMemoryEntry.Level? = nil) throws(SessionStoreError) -> [TextMemoryEntry] {
        let rows = try withConnection("reading captions") { (db) throws(SQLiteFailure) in
            try Self.readEntries(db, level: level)
        }
        var entries: [TextMemoryEntry] = []
        for row in rows {
            guard let entry = row else {
                throw .corruptDatabase(path: databasePath, detail: "a caption row cannot be read")
            }
            entries.append(entry)
        }
        return entries
    }

    /// Entries per level.
    public func entryCounts() throws(SessionStoreError) -> [TextMemoryEntry.Level: Int] {
        try withConnection("counting captions") { (db) throws(SQLiteFailure) in try Self.readEntryCounts(db) }
    }

    // MARK: - Synopsis

    /// Replaces the saved synopsis with `state`, covering frames up to `lastFrame` (default: the state's newest
    /// member) at `mediaTime` (default: the newest cluster end), and records that progress — one transaction.
    public func saveSynopsis(_ state: SynopsisState, lastFrame: Int? = nil, mediaTime: Double? = nil)
        throws(SessionStoreError)
    {
        let frame = lastFrame ?? state.lastFrameID
        let time = mediaTime ?? state.clusters.map(\.end).max()
        if let time { try checkFinite(time, "synopsis media time") }
        let bytes = state.serialized()
        try transaction("saving the synopsis") { (db) throws(SessionStoreError) in
            try sqlite("saving the synopsis") { () throws(SQLiteFailure) in
                let now = Milliseconds.of(Date())
                try db.run(
                    "INSERT OR REPLACE INTO synopsis (id, state, last_frame, last_media_time, saved_at) "
                        + "VALUES (1, ?, ?, ?, ?)",
                    [.blob(bytes), .integer(frame), .real(time), .integer(now)])
                if let frame {
                    try db.run(
                        "UPDATE session SET last_frame = max(coalesce(last_frame, ?1), ?1) WHERE id = 1",
                        [.integer(Int64(frame))])
                }
                if let time {
                    try db.run(
                        "UPDATE session SET last_media_time = max(coalesce(last_media_time, ?1), ?1) WHERE id = 1",
                        [.real(time)])
                }
                try db.run("UPDATE session SET updated_at = ? WHERE id = 1", [.integer(now)])
            }
        }
    }

    /// The saved synopsis (nil when none was saved); throws `corruptSynopsis` when it does not read back.
    public func latestSynopsis() throws(SessionStoreError) -> SavedSynopsis? {
        let row = try withConnection("reading the synopsis") { (db) throws(SQLiteFailure) in
            try db.rows("SELECT state, last_frame, last_media_time, saved_at FROM synopsis WHERE id = 1") {
                ($0.blob(0), $0.integer(1), $0.real(2), $0.integer(3) ?? 0)
            }.first
        }
        guard let row else { return nil }
        let (bytes, frame, time, saved) = row
        do {
            let state = try SynopsisState(serialized: bytes)
            return SavedSynopsis(
                state: state, lastFrame: frame.map(Int.init), lastMediaTime: time, savedAt: Milliseconds.date(saved))
        } catch {
            throw .corruptSynopsis(path: databasePath, detail: error.description)
        }
    }

    /// Deletes the saved synopsis (after `corruptSynopsis`, to continue with a new one).
    public func discardSynopsis() throws(SessionStoreError) {
        try withConnection("discarding the synopsis") { (db) throws(SQLiteFailure) in
            try db.run("DELETE FROM synopsis")
        }
    }

    // MARK: - Standing questions

    /// Registers a standing question, polled every `pollInterval` media seconds from `mediaTime`.
    @discardableResult
    public func addStandingQuestion(_ text: String, pollInterval: Double, mediaTime: Double? = nil)
        throws(SessionStoreError) -> StandingQuestion
    {
        guard pollInterval > 0, pollInterval.isFinite else {
            throw .invalidValue(setting: "poll interval", detail: "\(pollInterval) s is not positive")
        }
        if let mediaTime { try checkFinite(mediaTime, "question media time") }
        let now = Milliseconds.rounded(Date())
        let id = try withConnection("adding a standing question") { (db) throws(SQLiteFailure) -> Int64 in
            try db.run(
                "INSERT INTO standing_questions (text, created_at, created_media_time, poll_seconds, state) "
                    + "VALUES (?, ?, ?, ?, 'active')",
                [.text(text), .integer(Milliseconds.of(now)), .real(mediaTime), .real(pollInterval)])
            return db.lastInsertRowID
        }
        return StandingQuestion(
            id: id, text: text, createdAt: now, createdMediaTime: mediaTime, pollInterval: pollInterval,
            state: .active, firedAt: nil, firedMediaTime: nil, answer: nil)
    }

    /// The standing questions in `state` (all when nil), oldest first.
    public func standingQuestions(state: StandingQuestion.State? = nil) throws(SessionStoreError) -> [StandingQuestion]
    {
        let rows = try withConnection("reading standing questions") { (db) throws(SQLiteFailure) in
            try Self.readQuestions(db, where: state.map { ("state = ?", [.text($0.rawValue)]) })
        }
        return try rows.map { (row) throws(SessionStoreError) in
            guard let question = row else {
                throw .corruptDatabase(path: databasePath, detail: "a standing question row cannot be read")
            }
            return question
        }
    }

    /// The standing question `id` (nil when there is none).
    public func standingQuestion(id: Int64) throws(SessionStoreError) -> StandingQuestion? {
        let rows = try withConnection("reading a standing question") { (db) throws(SQLiteFailure) in
            try Self.readQuestions(db, where: ("id = ?", [.integer(id)]))
        }
        guard let row = rows.first else { return nil }
        guard let question = row else {
            throw .corruptDatabase(path: databasePath, detail: "standing question \(id) cannot be read")
        }
        return question
    }

    /// Records that question `id` fired at session media time `mediaTime` with `answer` (state fired).
    public func markFired(_ id: Int64, mediaTime: Double, answer: String) throws(SessionStoreError) {
        try checkFinite(mediaTime, "fired media time")
        try updateQuestion(
            id, "state = 'fired', fired_at = ?, fired_media_time = ?, answer = ?",
            [.integer(Milliseconds.of(Date())), .real(mediaTime), .text(answer)])
    }

    /// Withdraws question `id` (state cancelled).
    public func cancelStandingQuestion(_ id: Int64) throws(SessionStoreError) {
        try updateQuestion(id, "state = 'cancelled'", [])
    }

    /// Makes question `id` active again (after firing or cancelling), clearing its answer.
    public func reactivateStandingQuestion(_ id: Int64) throws(SessionStoreError) {
        try updateQuestion(id, "state = 'active', fired_at = NULL, fired_media_time = NULL, answer = NULL", [])
    }

    /// Changes the poll interval of question `id`.
    public func setPollInterval(_ id: Int64, to pollInterval: Double) throws(SessionStoreError) {
        guard pollInterval > 0, pollInterval.isFinite else {
            throw .invalidValue(setting: "poll interval", detail: "\(pollInterval) s is not positive")
        }
        try updateQuestion(id, "poll_seconds = ?", [.real(pollInterval)])
    }

    /// Deletes question `id`.
    public func removeStandingQuestion(_ id: Int64) throws(SessionStoreError) {
        let changed = try withConnection("removing a standing question") { (db) throws(SQLiteFailure) -> Int in
            try db.run("DELETE FROM standing_questions WHERE id = ?", [.integer(id)])
            return db.changes
        }
        guard changed == 1 else { throw .unknownStandingQuestion(id: id) }
    }

    private func updateQuestion(_ id: Int64, _ assignments: String, _ values: [SQLiteValue]) throws(SessionStoreError) {
        let changed = try withConnection("updating a standing question") { (db) throws(SQLiteFailure) -> Int in
            try db.run("UPDATE standing_questions SET \(assignments) WHERE id = ?", values + [.integer(id)])
            return db.changes
        }
        guard changed == 1 else { throw .unknownStandingQuestion(id: id) }
    }

    // MARK: - Checks

    /// Runs `PRAGMA integrity_check` now; throws `corruptDatabase` with its first findings.
    public func verify() throws(SessionStoreError) {
        let findings = try withConnection("checking integrity") { (db) throws(SQLiteFailure) in
            try db.rows("PRAGMA integrity_check") { $0.text(0) ?? "" }
        }
        guard findings == ["ok"] else {
            throw .corruptDatabase(path: databasePath, detail: findings.prefix(3).joined(separator: "; "))
        }
    }

    // MARK: - Sessions

    /// Every session folder under `stateDirectory`, by name, each with its summary or the reason it cannot be
    /// read (a damaged session does not hide the others). Reads only; a session in use is read as it is.
    public static func listSessions(stateDirectory: String? = nil) throws(SessionStoreError) -> [SessionSummary] {
        let folder = sessionsDirectory(stateDirectory: stateDirectory)
        guard access(folder, F_OK) == 0 else { return [] }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw .fileFailed(path: folder, reason: "\(error.localizedDescription)")
        }
        return names.filter(isValidName).sorted().compactMap { name in
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder + "/" + name, isDirectory: &isFolder),
                isFolder.boolValue
            else { return nil }
            return summary(name: name, folder: folder + "/" + name)
        }
    }

    /// The summary of session `name` (`vigil sessions show`); throws `notFound` when there is no such session.
    public static func summary(name: String, stateDirectory: String? = nil) throws(SessionStoreError)
        -> SessionSummary
    {
        let folder = try sessionDirectory(name: name, stateDirectory: stateDirectory)
        guard access(folder, F_OK) == 0 else { throw .notFound(name: name, path: folder) }
        return summary(name: name, folder: folder)
    }

    /// Deletes session `name` — database, bank, index, the folder — unless another process has it open.
    public static func remove(name: String, stateDirectory: String? = nil) throws(SessionStoreError) {
        let folder = try sessionDirectory(name: name, stateDirectory: stateDirectory)
        guard access(folder, F_OK) == 0 else { throw .notFound(name: name, path: folder) }
        let lock = try SessionLock(path: folder + "/session.lock", name: name)
        defer { lock.release() }
        let contents = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for item in contents where item != "session.lock" {
            do {
                try FileManager.default.removeItem(atPath: folder + "/" + item)
            } catch {
                throw .fileFailed(path: folder + "/" + item, reason: error.localizedDescription)
            }
        }
        unlink(folder + "/session.lock")
        guard rmdir(folder) == 0 else { throw .fileFailed(path: folder, reason: String(cString: strerror(errno))) }
    }

    /// Writes session `name`'s captions to `directory` as `<name>.<ext>` for each of `formats` (each file
    /// atomically, with the caption writers); returns the paths. Reads only: works while the session runs.
    @discardableResult
    public static func export(
        name: String, stateDirectory: String? = nil, formats: [CaptionFormat], to directory: String,
        options: CaptionWriter.Options = CaptionWriter.Options()
    ) throws(SessionStoreError) -> [String] {
        let folder = try sessionDirectory(name: name, stateDirectory: stateDirectory)
        let database = folder + "/session.sqlite"
        guard access(database, F_OK) == 0 else { throw .notFound(name: name, path: folder) }
        let connection = try validate(database, check: .quick)
        defer { connection.close() }
        let rows: [TextMemoryEntry?]
        do {
            rows = try readEntries(connection, level: nil)
        } catch {
            throw failure(error, path: database, operation: "reading captions")
        }
        let entries = rows.compactMap { $0 }
        guard entries.count == rows.count else {
            throw .corruptDatabase(path: database, detail: "a caption row cannot be read")
        }
        let outputs = CaptionOutputs(directory: directory, baseName: name, formats: formats)
        do {
            try outputs.write(entries, options: options)
        } catch {
            throw .exportFailed(error)
        }
        return formats.map(outputs.path(for:))
    }

    // MARK: - Plumbing

    /// Runs `body` on the connection under the mutex, mapping SQLite failures.
    private func withConnection<T>(_ operation: String, _ body: (SQLiteConnection) throws(SQLiteFailure) -> T)
        throws(SessionStoreError) -> T
    {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        precondition(connection != nil, "use of a closed SessionStore")
        do {
            return try body(connection!)
        } catch {
            throw Self.failure(error, path: databasePath, operation: operation)
        }
    }

    /// Runs `body` in one transaction under the mutex.
    private func transaction<T>(_ operation: String, _ body: (SQLiteConnection) throws(SessionStoreError) -> T)
        throws(SessionStoreError) -> T
    {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        precondition(connection != nil, "use of a closed SessionStore")
        let db = connection!
        let path = databasePath
        return try db.transaction({ () throws(SessionStoreError) -> T in try body(db) }) {
            Self.failure($0, path: path, operation: operation)
        }
    }

    /// Runs `body`, mapping SQLite failures (inside a transaction).
    private func sqlite<T>(_ operation: String, _ body: () throws(SQLiteFailure) -> T) throws(SessionStoreError) -> T {
        do { return try body() } catch { throw Self.failure(error, path: databasePath, operation: operation) }
    }

    private func checkFinite(_ value: Double, _ setting: String) throws(SessionStoreError) {
        guard value.isFinite else { throw .invalidValue(setting: setting, detail: "\(value) is not a finite number") }
    }

    static func failure(_ error: SQLiteFailure, path: String, operation: String) -> SessionStoreError {
        if error.code == SQLITE_NOTADB { return .notADatabase(path: path, detail: error.message) }
        if error.code == SQLITE_CORRUPT { return .corruptDatabase(path: path, detail: error.message) }
        return .databaseFailed(path: path, operation: operation, detail: error.message)
    }

    static func isJSONObject(_ text: String) -> Bool {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) is [String: Any]
    }

    private static func makeDirectories(_ path: String) throws(SessionStoreError) {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .fileFailed(path: path, reason: error.localizedDescription)
        }
    }
}
