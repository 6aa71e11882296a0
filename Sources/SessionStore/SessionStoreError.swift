// The one error type of SessionStore: bad session names, missing or busy sessions, databases that are not Vigil
// sessions (garbage, another application's SQLite file, a newer schema) or are damaged, and failed reads and
// writes. Every message names the session or file, says what is wrong and what to do; a database that is refused
// is never changed.

import Memory
import VigilCore

/// A failure of a persistent session.
public enum SessionStoreError: UserFacingError, Sendable, Equatable {
    /// A session name is empty, too long or has characters other than letters, digits, `.`, `_`, `-`.
    case invalidName(name: String)
    /// No session of this name under the state folder.
    case notFound(name: String, path: String)
    /// Another process has the session open.
    case inUse(name: String, path: String)
    /// The session's database file is not an SQLite database at all (empty, garbage, truncated header).
    case notADatabase(path: String, detail: String)
    /// The file is an SQLite database of another application (application id or schema differ).
    case foreignDatabase(path: String, detail: String)
    /// The database was written by a newer Vigil (schema version above this one's).
    case newerDatabase(path: String, version: Int, supported: Int)
    /// The database is a Vigil session but damaged (integrity check, missing tables, unreadable pages).
    case corruptDatabase(path: String, detail: String)
    /// The saved synopsis state cannot be read back.
    case corruptSynopsis(path: String, detail: String)
    /// An SQLite operation failed for another reason (full disk, I/O error, permissions).
    case databaseFailed(path: String, operation: String, detail: String)
    /// A file or folder of the session could not be created, locked or removed.
    case fileFailed(path: String, reason: String)
    /// A value handed to the store is out of range; `setting` names it.
    case invalidValue(setting: String, detail: String)
    /// No standing question has this id.
    case unknownStandingQuestion(id: Int64)
    /// Writing caption files failed.
    case exportFailed(MemoryError)

    /// A short machine-readable code, for `{"type":"error"}` events.
    public var code: String {
        switch self {
        case .invalidName: return "invalid_session_name"
        case .notFound: return "session_not_found"
        case .inUse: return "session_in_use"
        case .notADatabase: return "not_a_session_database"
        case .foreignDatabase: return "foreign_session_database"
        case .newerDatabase: return "newer_session_database"
        case .corruptDatabase: return "corrupt_session_database"
        case .corruptSynopsis: return "corrupt_session_synopsis"
        case .databaseFailed: return "session_database_failed"
        case .fileFailed: return "session_file_failed"
        case .invalidValue: return "invalid_session_value"
        case .unknownStandingQuestion: return "unknown_standing_question"
        case .exportFailed(let error): return error.code
        }
    }

    public var description: String {
        switch self {
        case .invalidName(let name):
            return "'\(name)' is not a valid session name: use 1–64 letters, digits, '.', '_' or '-', starting with "
                + "a letter or digit"
        case .notFound(let name, let path):
            return "there is no session '\(name)' (no \(path)); list the sessions with `vigil sessions list`, or start "
                + "it with `vigil watch --session \(name)`"
        case .inUse(let name, let path):
            return "session '\(name)' is in use by another Vigil process (\(path) is locked); stop that process or use "
                + "another session name"
        case .notADatabase(let path, let detail):
            return "\(path) is not a session database (\(detail)); Vigil leaves it untouched: move it away (e.g. "
                + "`mv \(path) \(path).damaged`) to start the session afresh, or restore it from a backup"
        case .foreignDatabase(let path, let detail):
            return "\(path) is an SQLite database of another application (\(detail)); Vigil leaves it untouched: "
                + "move it away or use another session name"
        case .newerDatabase(let path, let version, let supported):
            return "\(path) was written by a newer Vigil (session schema \(version); this one reads up to "
                + "\(supported)); Vigil leaves it untouched: upgrade Vigil, or use another session name"
        case .corruptDatabase(let path, let detail):
            return "session database \(path) is damaged (\(detail)); Vigil leaves it untouched: move it away (e.g. "
                + "`mv \(path) \(path).damaged`) to start the session afresh, or restore it from a backup"
        case .corruptSynopsis(let path, let detail):
            return "the synopsis state saved in \(path) cannot be read (\(detail)); discard it "
                + "(SessionStore.discardSynopsis) to continue the session with a new synopsis"
        case .databaseFailed(let path, let operation, let detail):
            return "session database \(path): \(operation) failed (\(detail)); check free space and permissions of "
                + "its folder"
        case .fileFailed(let path, let reason):
            return "cannot use \(path): \(reason); check that its folder exists and is writable"
        case .invalidValue(let setting, let detail):
            return "session \(setting): \(detail)"
        case .unknownStandingQuestion(let id):
            return "there is no standing question \(id) in this session; list them to see their ids"
        case .exportFailed(let error):
            return error.description
        }
    }
}
