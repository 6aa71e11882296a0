// The session database's schema (version 1), how a new one is made, how an existing one is checked before anything
// writes to it, the row readers, and the folder lock. Tables (times: wall clock = whole milliseconds since 1970 UTC,
// media = seconds of session media time):
//
//   session             one row (id 1): name, source, model, settings (JSON object text), created_at,
//                       updated_at, last_frame, last_media_time (the newest recorded), feature_memory (JSON of
//                       the feature memory's settings: geometry, bank, synopsis, read plan, global-key index)
//   runs                one row per open for writing: run (1, 2, …), started_at, media_time_offset (session media
//                       time = source media time + offset), first_frame, ended_at (NULL: running or killed)
//   text_entries        every caption and summary, in append order: id, level (clip|segment|summary), start, end,
//                       text, tokens, created_at, model, timings (JSON object of milliseconds)
//   synopsis            at most one row (id 1): state (SynopsisState.serialized(), with its own CRC-32C),
//                       last_frame and last_media_time it covers, saved_at
//   standing_questions  id (AUTOINCREMENT: never reused), text, created_at, created_media_time, poll_seconds,
//                       state (active|fired|cancelled), fired_at, fired_media_time, answer
//
// `PRAGMA application_id` = 0x56475353 ("VGSS") and `PRAGMA user_version` = 1 mark the file as a Vigil session.

import CSQLite
import Foundation
import Glibc
import Memory

extension SessionStore {
    /// The tables and the columns the readers use, checked on opening.
    static let expectedColumns: [String: [String]] = [
        "session": [
            "id", "name", "source", "model", "settings", "created_at", "updated_at", "last_frame", "last_media_time",
            "feature_memory",
        ],
        "runs": ["run", "started_at", "media_time_offset", "first_frame", "ended_at"],
        "text_entries": ["id", "level", "start", "end", "text", "tokens", "created_at", "model", "timings"],
        "synopsis": ["id", "state", "last_frame", "last_media_time", "saved_at"],
        "standing_questions": [
            "id", "text", "created_at", "created_media_time", "poll_seconds", "state", "fired_at", "fired_media_time",
            "answer",
        ],
    ]

    static let schema = """
        CREATE TABLE session (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            name TEXT NOT NULL,
            source TEXT,
            model TEXT,
            settings TEXT NOT NULL DEFAULT '{}',
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            last_frame INTEGER,
            last_media_time REAL,
            feature_memory TEXT
        );
        CREATE TABLE runs (
            run INTEGER PRIMARY KEY,
            started_at INTEGER NOT NULL,
            media_time_offset REAL NOT NULL,
            first_frame INTEGER NOT NULL,
            ended_at INTEGER
        );
        CREATE TABLE text_entries (
            id INTEGER PRIMARY KEY,
            level TEXT NOT NULL CHECK (level IN ('clip', 'segment', 'summary')),
            start REAL NOT NULL,
            end REAL NOT NULL,
            text TEXT NOT NULL,
            tokens INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            model TEXT,
            timings TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX text_entries_by_end ON text_entries (end);
        CREATE TABLE synopsis (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            state BLOB NOT NULL,
            last_frame INTEGER,
            last_media_time REAL,
            saved_at INTEGER NOT NULL
        );
        CREATE TABLE standing_questions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            text TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            created_media_time REAL,
            poll_seconds REAL NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('active', 'fired', 'cancelled')),
            fired_at INTEGER,
            fired_media_time REAL,
            answer TEXT
        );
        """

    /// Builds a new database for session `name` under a temporary name and renames it to `path`.
    static func createDatabase(at path: String, name: String) throws(SessionStoreError) {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let temporary = folder + "/.session.sqlite.creating"
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(temporary + suffix) }  // a creation cut short
        do {
            let db = try SQLiteConnection(path: temporary, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
            try db.execute("PRAGMA journal_mode = WAL")
            let now = Milliseconds.of(Date())
            try db.transaction(
                { () throws(SQLiteFailure) in
                    try db.execute("PRAGMA application_id = \(applicationID)")
                    try db.execute(schema)
                    try db.run(
                        "INSERT INTO session (id, name, settings, created_at, updated_at) VALUES (1, ?, '{}', ?, ?)",
                        [.text(name), .integer(now), .integer(now)])
                    try db.execute("PRAGMA user_version = \(schemaVersion)")
                }, failed: { $0 })
            db.close()  // checkpoints the WAL into the file and deletes it
        } catch {
            for suffix in ["", "-wal", "-shm"] { unlink(temporary + suffix) }
            throw failure(error, path: path, operation: "creating the database")
        }
        let fd = Glibc.open(temporary, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            Glibc.close(fd)
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .fileFailed(path: path, reason: reason)
        }
        AtomicFile.syncDirectory(of: path)
    }

    /// Checks the database at `path` without writing to it and returns the read-only connection that checked it.
    static func validate(_ path: String, check: Options.Check) throws(SessionStoreError) -> SQLiteConnection {
        // 1. The header, read directly: SQLite itself is never handed a file that is not one.
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .fileFailed(path: path, reason: String(cString: strerror(errno))) }
        var header = [UInt8](repeating: 0, count: 100)
        let n = header.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 100) }
        Glibc.close(fd)
        if n == 0 { throw .notADatabase(path: path, detail: "the file is empty") }
        guard n == 100, Array(header.prefix(16)) == Array("SQLite format 3\0".utf8) else {
            throw .notADatabase(path: path, detail: "it does not start with an SQLite header")
        }
        // 2. A read-only connection: identity, version, integrity, tables. Reading a WAL-mode file may create
        //    empty -wal and -shm files; when the file is refused, the ones this check created are removed again.
        let created = ["-wal", "-shm"].filter { access(path + $0, F_OK) != 0 }
        let db: SQLiteConnection
        do {
            db = try SQLiteConnection(path: path, flags: SQLITE_OPEN_READONLY)
        } catch {
            throw failure(error, path: path, operation: "opening")
        }
        do throws(SessionStoreError) {
            try checkOpened(db, path: path, check: check)
        } catch {
            db.close()
            for suffix in created { unlink(path + suffix) }
            throw error
        }
        return db
    }

    /// The checks of `validate` on an open read-only connection.
    private static func checkOpened(_ db: SQLiteConnection, path: String, check: Options.Check)
        throws(SessionStoreError)
    {
        func sql<T>(_ body: () throws(SQLiteFailure) -> T) throws(SessionStoreError) -> T {
            do { return try body() } catch { throw failure(error, path: path, operation: "checking") }
        }
        guard
            case .integer(let application)? = try sql({ () throws(SQLiteFailure) in
                try db.scalar("PRAGMA application_id")
            }),
            case .integer(let version)? = try sql({ () throws(SQLiteFailure) in try db.scalar("PRAGMA user_version") })
        else { throw .corruptDatabase(path: path, detail: "its header pragmas cannot be read") }
        guard Int32(truncatingIfNeeded: application) == applicationID else {
            let hex = String(UInt32(truncatingIfNeeded: application), radix: 16)
            throw .foreignDatabase(
                path: path, detail: "its application id is 0x\(hex), a Vigil session's is 0x56475353")
        }
        guard version <= schemaVersion else {
            throw .newerDatabase(path: path, version: Int(version), supported: schemaVersion)
        }
        guard version >= 1 else { throw .corruptDatabase(path: path, detail: "its schema version is \(version)") }
        let findings = try sql { () throws(SQLiteFailure) in
            try db.rows(check == .full ? "PRAGMA integrity_check" : "PRAGMA quick_check") { $0.text(0) ?? "" }
        }
        guard findings == ["ok"] else {
            throw .corruptDatabase(path: path, detail: "integrity check: " + findings.prefix(3).joined(separator: "; "))
        }
        for (table, columns) in expectedColumns.sorted(by: { $0.key < $1.key }) {
            let present = Set(
                try sql { () throws(SQLiteFailure) in
                    try db.rows("SELECT name FROM pragma_table_info(?)", [.text(table)]) { $0.text(0) ?? "" }
                })
            guard !present.isEmpty else { throw .corruptDatabase(path: path, detail: "its table \(table) is missing") }
            let missing = columns.filter { !present.contains($0) }
            guard missing.isEmpty else {
                throw .corruptDatabase(path: path, detail: "table \(table) lacks \(missing.joined(separator: ", "))")
            }
        }
        guard try sql({ () throws(SQLiteFailure) in try db.scalar("SELECT count(*) FROM session") }) == .integer(1)
        else { throw .corruptDatabase(path: path, detail: "its session row is missing") }
    }

    // MARK: - Row readers

    static func readMetadata(_ db: SQLiteConnection) throws(SQLiteFailure) -> SessionMetadata {
        let rows = try db.rows(
            "SELECT name, source, model, settings, created_at, updated_at, last_frame, last_media_time FROM session "
                + "WHERE id = 1"
        ) { row in
            SessionMetadata(
                name: row.text(0) ?? "", source: row.text(1), model: row.text(2), settingsJSON: row.text(3) ?? "{}",
                createdAt: Milliseconds.date(row.integer(4) ?? 0), updatedAt: Milliseconds.date(row.integer(5) ?? 0),
                lastFrame: row.integer(6).map(Int.init), lastMediaTime: row.real(7))
        }
        guard let metadata = rows.first else {
            throw SQLiteFailure(code: SQLITE_CORRUPT, message: "the session row is missing")
        }
        return metadata
    }

    static func readRuns(_ db: SQLiteConnection) throws(SQLiteFailure) -> [SessionRun] {
        try db.rows("SELECT run, started_at, media_time_offset, first_frame, ended_at FROM runs ORDER BY run") { row in
            SessionRun(
                number: Int(row.integer(0) ?? 0), startedAt: Milliseconds.date(row.integer(1) ?? 0),
                mediaTimeOffset: row.real(2) ?? 0, firstFrame: Int(row.integer(3) ?? 0),
                endedAt: row.integer(4).map(Milliseconds.date))
        }
    }

    /// The entries of `level` (all when nil) in append order; nil for a row that does not make an entry.
    static func readEntries(_ db: SQLiteConnection, level: TextMemoryEntry.Level?) throws(SQLiteFailure)
        -> [TextMemoryEntry?]
    {
        let filter = level.map { _ in " WHERE level = ?" } ?? ""
        return try db.rows(
            "SELECT level, start, end, text, tokens, created_at, model, timings FROM text_entries\(filter) ORDER BY id",
            level.map { [.text($0.rawValue)] } ?? []
        ) { row -> TextMemoryEntry? in
            guard let level = row.text(0).flatMap(TextMemoryEntry.Level.init(rawValue:)),
                let start = row.real(1), let end = row.real(2), start.isFinite, end.isFinite,
                let created = row.integer(5),
                let timings = try? JSONDecoder().decode([String: Double].self, from: Data((row.text(7) ?? "{}").utf8))
            else { return nil }
            return TextMemoryEntry(
                level: level, start: start, end: end, text: row.text(3) ?? "", tokenCount: Int(row.integer(4) ?? 0),
                createdAt: Milliseconds.date(created), model: row.text(6), timings: timings)
        }
    }

    static func readEntryCounts(_ db: SQLiteConnection) throws(SQLiteFailure) -> [TextMemoryEntry.Level: Int] {
        var counts: [TextMemoryEntry.Level: Int] = [:]
        try db.run("SELECT level, count(*) FROM text_entries GROUP BY level") { row in
            if let level = row.text(0).flatMap(TextMemoryEntry.Level.init(rawValue:)) {
                counts[level] = Int(row.integer(1) ?? 0)
            }
        }
        return counts
    }

    /// Standing questions (filtered by a WHERE clause and its values), oldest first; nil for an unreadable row.
    static func readQuestions(_ db: SQLiteConnection, where clause: (String, [SQLiteValue])?) throws(SQLiteFailure)
        -> [StandingQuestion?]
    {
        try db.rows(
            "SELECT id, text, created_at, created_media_time, poll_seconds, state, fired_at, fired_media_time, answer "
                + "FROM standing_questions" + (clause.map { " WHERE " + $0.0 } ?? "") + " ORDER BY id",
            clause?.1 ?? []
        ) { row -> StandingQuestion? in
            guard let id = row.integer(0), let state = row.text(5).flatMap(StandingQuestion.State.init(rawValue:)),
                let poll = row.real(4)
            else { return nil }
            return StandingQuestion(
                id: id, text: row.text(1) ?? "", createdAt: Milliseconds.date(row.integer(2) ?? 0),
                createdMediaTime: row.real(3), pollInterval: poll, state: state,
                firedAt: row.integer(6).map(Milliseconds.date), firedMediaTime: row.real(7), answer: row.text(8))
        }
    }

    /// The summary of the session folder `folder`, reading without the lock.
    static func summary(name: String, folder: String) -> SessionSummary {
        var summary = SessionSummary(
            name: name, directory: folder, metadata: nil, entryCounts: [:], questionCounts: [:], runCount: 0,
            bytes: folderBytes(folder), isInUse: SessionLock.isHeld(path: folder + "/session.lock"), problem: nil)
        let database = folder + "/session.sqlite"
        guard access(database, F_OK) == 0 else {
            summary.problem = "the folder has no session.sqlite"
            return summary
        }
        do {
            let db = try validate(database, check: .quick)
            defer { db.close() }
            do {
                summary.metadata = try readMetadata(db)
                summary.entryCounts = try readEntryCounts(db)
                summary.runCount = try readRuns(db).count
                try db.run("SELECT state, count(*) FROM standing_questions GROUP BY state") { row in
                    if let state = row.text(0).flatMap(StandingQuestion.State.init(rawValue:)) {
                        summary.questionCounts[state] = Int(row.integer(1) ?? 0)
                    }
                }
            } catch {
                summary.problem = failure(error, path: database, operation: "reading").description
            }
        } catch {
            summary.problem = error.description
        }
        return summary
    }

    /// Bytes of the regular files under `folder`.
    static func folderBytes(_ folder: String) -> Int64 {
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return 0 }
        var total: Int64 = 0
        while let item = walker.nextObject() as? String {
            var info = stat()
            if lstat(folder + "/" + item, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
                total += Int64(info.st_size)
            }
        }
        return total
    }
}

/// An exclusive flock on a session's `session.lock`, held while the store is open.
final class SessionLock: @unchecked Sendable {
    // @unchecked: the descriptor is only closed once, by `release` under the store's mutex or at deinit.
    private var descriptor: Int32

    /// Takes the lock at `path` (created when missing); throws `inUse` when another open file description holds it.
    init(path: String, name: String) throws(SessionStoreError) {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .fileFailed(path: path, reason: String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            throw busy ? .inUse(name: name, path: folder) : .fileFailed(path: path, reason: reason)
        }
        descriptor = fd
    }

    deinit { release() }

    /// Releases the lock (idempotent).
    func release() {
        if descriptor >= 0 { Glibc.close(descriptor) }
        descriptor = -1
    }

    /// True when some process holds the lock at `path` now.
    static func isHeld(path: String) -> Bool {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        return flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }
}
