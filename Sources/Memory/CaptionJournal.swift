// The caption journal: a sidecar JSON-lines file next to the outputs to which every finished entry is appended and
// flushed (fsync) as it is produced, so an interrupted run (SIGINT, kill -9, power loss) loses no finished entry and
// the next run resumes where it stopped (docs/captioning.md, "Resume").
//
//   {"kind":"header","journal":"vigil-captions","version":1,"input":"/abs/in.mp4","size":123,"modified_ns":...,
//    "settings":"9f2c..."}
//   {"kind":"entry","level":"clip","start":0.0,"end":30.0,"text":"...","tokens":23,"created_at":"..."}
//   ...
//   {"kind":"finished"}                 (all entries are in: the outputs can be written from the journal alone)
//
// Every line is written with one write(2) and then fsync'd, so an interruption leaves at most one torn (unterminated)
// last line; reading ignores it and reports its size, and reopening for appending cuts it off first. A journal whose
// header names another input file (path, size, modification time) or another settings fingerprint is rejected.
// One process at a time: the journal is locked (flock) while open for appending.

import Foundation
import Glibc
import Synchronization
import VigilCore

/// What a journal belongs to: the input file as it was when captioning started, and the caller's settings.
public struct JournalIdentity: Sendable, Hashable {
    /// The input file's path (absolute when made by `of(inputAt:settings:)`).
    public var inputPath: String
    /// The input file's size in bytes.
    public var inputSize: Int64
    /// The input file's modification time, nanoseconds since 1970.
    public var inputModifiedNanoseconds: Int64
    /// A fingerprint of every setting that changes the entries (model, prompt, fps, clip length, ...).
    public var settings: String

    /// An identity from known values.
    public init(inputPath: String, inputSize: Int64, inputModifiedNanoseconds: Int64, settings: String) {
        self.inputPath = inputPath
        self.inputSize = inputSize
        self.inputModifiedNanoseconds = inputModifiedNanoseconds
        self.settings = settings
    }

    /// The identity of the file at `path` now (its absolute path, size and modification time) with `settings`.
    public static func of(inputAt path: String, settings: String) throws(MemoryError) -> JournalIdentity {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .readFailed(path: path, reason: systemError()) }
        return JournalIdentity(
            inputPath: URL(fileURLWithPath: path).standardizedFileURL.path, inputSize: Int64(info.st_size),
            inputModifiedNanoseconds: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
            settings: settings)
    }

    /// A short fingerprint of `settings` (FNV-1a 64 over the sorted `key=value` lines, as 16 hex digits). Not
    /// cryptographic: it detects changed settings, nothing more.
    public static func fingerprint(_ settings: [String: String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
            for byte in (key + "=" + value + "\n").utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// The entries a journal holds, as read back.
public struct JournalContents: Sendable, Equatable {
    /// The entries, in the order they were appended.
    public var entries: [TextMemoryEntry]
    /// True when the run marked the journal finished: every entry is in.
    public var isFinished: Bool
    /// Bytes of a torn last line that were ignored (0 when the journal ended cleanly).
    public var discardedBytes: Int

    /// An empty journal's contents.
    public init(entries: [TextMemoryEntry] = [], isFinished: Bool = false, discardedBytes: Int = 0) {
        self.entries = entries
        self.isFinished = isFinished
        self.discardedBytes = discardedBytes
    }

    /// The media time to resume captioning from: the latest end of any entry, 0 when there are none.
    public var resumeTime: Double { entries.map(\.end).max() ?? 0 }
}

/// An open caption journal, appending entries durably. Thread-safe; one per input file.
public final class CaptionJournal: Sendable {
    /// The journal file.
    public let path: String
    /// The input and settings the journal belongs to.
    public let identity: JournalIdentity
    private let state: Mutex<(descriptor: Int32, isFinished: Bool)>

    private init(path: String, identity: JournalIdentity, descriptor: Int32, isFinished: Bool) {
        self.path = path
        self.identity = identity
        state = Mutex((descriptor, isFinished))
    }

    deinit {
        state.withLock { if $0.descriptor >= 0 { Glibc.close($0.descriptor) } }
    }

    /// Starts a new journal at `path` (replacing any file there) with a header for `identity`.
    public static func create(at path: String, identity: JournalIdentity) throws(MemoryError) -> CaptionJournal {
        let fd = try openLocked(path, truncating: true)
        do throws(MemoryError) {
            try appendLine(headerLine(identity), to: fd, path: path)
        } catch {
            Glibc.close(fd)
            throw error
        }
        AtomicFile.syncDirectory(of: path)
        return CaptionJournal(path: path, identity: identity, descriptor: fd, isFinished: false)
    }

    /// Opens the existing journal at `path` to continue it: checks it belongs to `identity`, cuts off a torn last
    /// line, and returns the journal (appending after the last complete line) with what it already holds. A journal
    /// torn inside its header, an empty file or no file at all holds nothing and is started with a new header.
    public static func resume(at path: String, identity: JournalIdentity) throws(MemoryError) -> (
        journal: CaptionJournal, contents: JournalContents
    ) {
        let fd = try openLocked(path, truncating: false)
        do throws(MemoryError) {
            let bytes = try AtomicFile.read(path)
            let parsed = try parse(bytes, path: path, identity: identity)
            if parsed.keptBytes < bytes.count {
                guard ftruncate(fd, off_t(parsed.keptBytes)) == 0 else {
                    throw MemoryError.writeFailed(path: path, reason: systemError())
                }
            }
            if parsed.keptBytes == 0 { try appendLine(headerLine(identity), to: fd, path: path) }
            guard fsync(fd) == 0 else { throw MemoryError.writeFailed(path: path, reason: systemError()) }
            let journal = CaptionJournal(
                path: path, identity: identity, descriptor: fd, isFinished: parsed.contents.isFinished)
            return (journal, parsed.contents)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// Reads the journal at `path` without changing it; throws when it belongs to another identity.
    public static func read(at path: String, identity: JournalIdentity) throws(MemoryError) -> JournalContents {
        try parse(try AtomicFile.read(path), path: path, identity: identity).contents
    }

    /// Appends `entry` and flushes it to disk before returning.
    public func append(_ entry: TextMemoryEntry) throws(MemoryError) {
        let line = JSONValue.object([("kind", .string("entry"))] + entry.jsonMembers).serialized()
        try state.withLock { (state) throws(MemoryError) in
            precondition(state.descriptor >= 0, "append to a closed caption journal")
            precondition(!state.isFinished, "append to a finished caption journal")
            try Self.appendLine(line, to: state.descriptor, path: path)
        }
    }

    /// Records that every entry is in (the outputs can be written from the journal alone) and flushes.
    public func markFinished() throws(MemoryError) {
        try state.withLock { (state) throws(MemoryError) in
            precondition(state.descriptor >= 0, "finish a closed caption journal")
            guard !state.isFinished else { return }
            try Self.appendLine(#"{"kind":"finished"}"#, to: state.descriptor, path: path)
            state.isFinished = true
        }
    }

    /// Closes the journal (idempotent); the file stays.
    public func close() {
        state.withLock {
            if $0.descriptor >= 0 { Glibc.close($0.descriptor) }
            $0.descriptor = -1
        }
    }

    // MARK: - Lines

    private static func headerLine(_ identity: JournalIdentity) -> String {
        JSONValue.object([
            ("kind", .string("header")), ("journal", .string("vigil-captions")), ("version", .int(1)),
            ("input", .string(identity.inputPath)), ("size", .int(Int(identity.inputSize))),
            ("modified_ns", .int(Int(identity.inputModifiedNanoseconds))), ("settings", .string(identity.settings)),
        ]).serialized()
    }

    /// Writes `line` and a newline with one write(2) (retrying only short writes), then fsyncs.
    private static func appendLine(_ line: String, to fd: Int32, path: String) throws(MemoryError) {
        try AtomicFile.writeAll(Array((line + "\n").utf8), to: fd, path: path)
        guard fsync(fd) == 0 else { throw .writeFailed(path: path, reason: systemError()) }
    }

    private static func openLocked(_ path: String, truncating: Bool) throws(MemoryError) -> Int32 {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .writeFailed(path: path, reason: systemError()) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let reason = systemError()
            Glibc.close(fd)
            throw busy ? .journalInUse(path: path) : .writeFailed(path: path, reason: reason)
        }
        if truncating {
            guard ftruncate(fd, 0) == 0 else {
                let reason = systemError()
                Glibc.close(fd)
                throw .writeFailed(path: path, reason: reason)
            }
        }
        return fd
    }

    // MARK: - Reading

    private struct Kind: Decodable {
        var kind: String?
    }

    private struct Header: Decodable {
        var journal: String?
        var version: Int?
        var input: String
        var size: Int64
        var modifiedNanoseconds: Int64
        var settings: String

        enum CodingKeys: String, CodingKey {
            case journal, version, input, size, settings
            case modifiedNanoseconds = "modified_ns"
        }
    }

    /// The contents of journal bytes and how many leading bytes are complete lines.
    private static func parse(_ bytes: [UInt8], path: String, identity: JournalIdentity) throws(MemoryError) -> (
        contents: JournalContents, keptBytes: Int
    ) {
        var contents = JournalContents()
        var lineStart = 0
        var lineNumber = 0
        let decoder = JSONDecoder()
        while let newline = bytes[lineStart...].firstIndex(of: 0x0A) {
            lineNumber += 1
            let line = Data(bytes[lineStart..<newline])
            lineStart = newline + 1
            if lineNumber == 1 {
                guard let header = try? decoder.decode(Header.self, from: line),
                    (try? decoder.decode(Kind.self, from: line))?.kind == "header", header.journal == "vigil-captions"
                else { throw .notAJournal(path: path, detail: "its first line is no journal header") }
                guard header.version == 1 else {
                    throw .notAJournal(path: path, detail: "journal version \(header.version ?? 0) is not 1")
                }
                try check(header, against: identity, path: path)
                continue
            }
            if line.isEmpty { continue }
            guard let kind = try? decoder.decode(Kind.self, from: line) else {
                throw .corruptJournal(path: path, line: lineNumber, detail: "not a JSON object")
            }
            if contents.isFinished {
                throw .corruptJournal(path: path, line: lineNumber, detail: "a line after the finished mark")
            }
            switch kind.kind {
            case "entry":
                do {
                    contents.entries.append(try decoder.decode(TextMemoryEntry.self, from: line))
                } catch {
                    throw .corruptJournal(path: path, line: lineNumber, detail: "not an entry: \(error)")
                }
            case "finished":
                contents.isFinished = true
            default:
                throw .corruptJournal(path: path, line: lineNumber, detail: "unknown kind \(kind.kind ?? "none")")
            }
        }
        contents.discardedBytes = bytes.count - lineStart
        return (contents, lineStart)
    }

    private static func check(_ header: Header, against identity: JournalIdentity, path: String) throws(MemoryError) {
        if header.input != identity.inputPath {
            throw .foreignJournal(path: path, field: "input file", journal: header.input, current: identity.inputPath)
        }
        if header.size != identity.inputSize {
            throw .foreignJournal(
                path: path, field: "input size", journal: "\(header.size) bytes", current: "\(identity.inputSize) bytes"
            )
        }
        if header.modifiedNanoseconds != identity.inputModifiedNanoseconds {
            func stamp(_ ns: Int64) -> String {
                WallClock.format(WallClock.date(milliseconds: ns / 1_000_000)) + " (\(ns) ns)"
            }
            throw .foreignJournal(
                path: path, field: "input modification time", journal: stamp(header.modifiedNanoseconds),
                current: stamp(identity.inputModifiedNanoseconds))
        }
        if header.settings != identity.settings {
            throw .foreignJournal(
                path: path, field: "settings fingerprint", journal: header.settings, current: identity.settings)
        }
    }
}
