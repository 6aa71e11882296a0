// Whole-file writes that never leave a half-written file behind, and durable removals: the bytes go to a temporary
// file in the same folder, are flushed (fsync), and the temporary file is renamed over the target; the folder is
// flushed too so the rename itself survives a crash. Readers see the old file or the new one, never a mix.

import Foundation
import Glibc

/// Atomic, durable file replacement.
public enum AtomicFile {
    /// Writes `text` as UTF-8 to `path` atomically (temporary file, fsync, rename, fsync of the folder).
    public static func write(_ text: String, to path: String) throws(MemoryError) {
        try write(Array(text.utf8), to: path)
    }

    /// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the folder).
    public static func write(_ bytes: [UInt8], to path: String) throws(MemoryError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary =
            directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .writeFailed(path: path, reason: systemError()) }
        do throws(MemoryError) {
            try writeAll(bytes, to: fd, path: path)
            guard fsync(fd) == 0 else { throw MemoryError.writeFailed(path: path, reason: systemError()) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = systemError()
            unlink(temporary)
            throw .writeFailed(path: path, reason: reason)
        }
        syncDirectory(of: path)
    }

    /// Removes `path` (nothing happens when it is not there) and flushes its folder.
    public static func remove(_ path: String) throws(MemoryError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw .writeFailed(path: path, reason: systemError()) }
        syncDirectory(of: path)
    }

    /// Flushes the folder holding `path`, so a create, rename or unlink in it is durable (best effort).
    public static func syncDirectory(of path: String) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }

    /// Writes all of `bytes` to `fd`, retrying on EINTR and short writes.
    static func writeAll(_ bytes: [UInt8], to fd: Int32, path: String) throws(MemoryError) {
        var failure: String?
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = systemError()
                    return
                }
                offset += n
            }
        }
        if let failure { throw .writeFailed(path: path, reason: failure) }
    }

    /// The whole content of the file at `path`.
    static func read(_ path: String) throws(MemoryError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .readFailed(path: path, reason: systemError()) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .readFailed(path: path, reason: systemError())
            }
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
        }
    }
}

/// The text of the current `errno`.
func systemError() -> String { String(cString: strerror(errno)) }
