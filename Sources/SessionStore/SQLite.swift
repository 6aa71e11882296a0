// A thin layer over one SQLite connection (CSQLite): open, run statements, bind and read values, transactions.
// Not thread-safe on its own; SessionStore serialises every use under its lock. Errors carry SQLite's primary
// result code and message; SessionStore turns them into SessionStoreError with the database's path.

import CSQLite

/// An SQLite failure: the primary result code and the connection's message.
struct SQLiteFailure: Error {
    /// The primary result code (SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_FULL, …).
    var code: Int32
    /// SQLite's words.
    var message: String

    /// True for the codes that mean the file's bytes are wrong, not the operation.
    var isDamage: Bool { code == SQLITE_CORRUPT || code == SQLITE_NOTADB }
}

/// A value bound to or read from a statement.
enum SQLiteValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    /// `.integer`, or `.null` for nil.
    static func integer(_ value: Int?) -> SQLiteValue { value.map { .integer(Int64($0)) } ?? .null }
    /// `.real`, or `.null` for nil.
    static func real(_ value: Double?) -> SQLiteValue { value.map { .real($0) } ?? .null }
    /// `.text`, or `.null` for nil.
    static func text(_ value: String?) -> SQLiteValue { value.map { .text($0) } ?? .null }
}

/// One open connection.
final class SQLiteConnection {
    /// The database file.
    let path: String
    private var handle: OpaquePointer?

    /// Opens `path` with SQLite open `flags` (SQLITE_OPEN_READONLY, SQLITE_OPEN_READWRITE, SQLITE_OPEN_CREATE).
    init(path: String, flags: Int32) throws(SQLiteFailure) {
        self.path = path
        var db: OpaquePointer?
        let status = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard status == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
            sqlite3_close_v2(db)
            throw SQLiteFailure(code: status & 0xff, message: message)
        }
        handle = db
        sqlite3_extended_result_codes(db, 0)
    }

    deinit { close() }

    /// Opens `path` for reading and writing, creating an empty database when there is no file.
    static func openCreating(_ path: String) throws(SQLiteFailure) -> SQLiteConnection {
        try SQLiteConnection(path: path, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
    }

    /// Closes the connection (idempotent). The last connection to a WAL database checkpoints it on closing.
    func close() {
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    private var db: OpaquePointer {
        precondition(handle != nil, "use of a closed SQLite connection")
        return handle!
    }

    private func failure(_ status: Int32) -> SQLiteFailure {
        SQLiteFailure(code: status & 0xff, message: String(cString: sqlite3_errmsg(db)))
    }

    /// Runs `sql` (one or more statements, no parameters, results ignored).
    func execute(_ sql: String) throws(SQLiteFailure) {
        let status = sqlite3_exec(db, sql, nil, nil, nil)
        guard status == SQLITE_OK else { throw failure(status) }
    }

    /// Runs one statement with `values` bound to its parameters, calling `row` for every result row.
    func run(_ sql: String, _ values: [SQLiteValue] = [], row: (SQLiteRow) -> Void = { _ in }) throws(SQLiteFailure) {
        var statement: OpaquePointer?
        var status = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
        guard status == SQLITE_OK, let statement else { throw failure(status) }
        defer { sqlite3_finalize(statement) }
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .null: status = sqlite3_bind_null(statement, index)
            case .integer(let v): status = sqlite3_bind_int64(statement, index, v)
            case .real(let v): status = sqlite3_bind_double(statement, index, v)
            case .text(let v): status = vsq_bind_text(statement, index, v, -1)
            case .blob(let v):
                status = v.withUnsafeBytes {
                    vsq_bind_blob(statement, index, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, Int32($0.count))
                }
            }
            guard status == SQLITE_OK else { throw failure(status) }
        }
        while true {
            status = sqlite3_step(statement)
            if status == SQLITE_DONE { return }
            guard status == SQLITE_ROW else { throw failure(status) }
            row(SQLiteRow(statement: statement))
        }
    }

    /// The rows of a query, each turned into a value by `make`.
    func rows<T>(_ sql: String, _ values: [SQLiteValue] = [], _ make: (SQLiteRow) -> T) throws(SQLiteFailure) -> [T] {
        var out: [T] = []
        try run(sql, values) { out.append(make($0)) }
        return out
    }

    /// The first column of the first row (nil when there is no row).
    func scalar(_ sql: String, _ values: [SQLiteValue] = []) throws(SQLiteFailure) -> SQLiteValue? {
        try rows(sql, values) { $0.value(0) }.first
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    var changes: Int { Int(sqlite3_changes(db)) }

    /// The rowid of the last INSERT.
    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(db) }

    /// Runs `body` inside BEGIN IMMEDIATE … COMMIT; any error rolls everything back.
    func transaction<T, E: Error>(_ body: () throws(E) -> T, failed: (SQLiteFailure) -> E) throws(E) -> T {
        do { try execute("BEGIN IMMEDIATE") } catch { throw failed(error) }
        let result: T
        do {
            result = try body()
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
        do {
            try execute("COMMIT")
        } catch {
            try? execute("ROLLBACK")
            throw failed(error)
        }
        return result
    }
}

/// The current row of a statement, valid only inside the row callback.
struct SQLiteRow {
    let statement: OpaquePointer

    /// Column `index` as a value.
    func value(_ index: Int32) -> SQLiteValue {
        switch sqlite3_column_type(statement, index) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(statement, index))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(statement, index))
        case SQLITE_TEXT: return .text(text(index) ?? "")
        case SQLITE_BLOB: return .blob(blob(index))
        default: return .null
        }
    }

    /// Column `index` as an integer (nil for NULL).
    func integer(_ index: Int32) -> Int64? {
        sqlite3_column_type(statement, index) == SQLITE_NULL ? nil : sqlite3_column_int64(statement, index)
    }

    /// Column `index` as a double (nil for NULL).
    func real(_ index: Int32) -> Double? {
        sqlite3_column_type(statement, index) == SQLITE_NULL ? nil : sqlite3_column_double(statement, index)
    }

    /// Column `index` as UTF-8 text (nil for NULL).
    func text(_ index: Int32) -> String? {
        guard let pointer = sqlite3_column_text(statement, index) else { return nil }
        let count = Int(sqlite3_column_bytes(statement, index))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    /// Column `index` as bytes (empty for NULL).
    func blob(_ index: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, index))
        guard count > 0, let pointer = sqlite3_column_blob(statement, index) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }
}
