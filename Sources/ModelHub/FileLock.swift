// An exclusive flock(2) on a lock file, so two Vigil processes (or two tasks of one process, or Vigil and
// huggingface_hub, whose FileLock also uses flock on `<root>/.locks/…/<etag>.lock`) never write the same blob at
// once. flock locks belong to the open file description, so two opens in one process exclude each other too.
// Waiting polls with LOCK_NB and Task.sleep: it never blocks a thread of the cooperative pool, and it can be
// cancelled. The kernel drops the lock when the holder exits, so a crashed download never leaves a stale lock.
// (On network file systems where flock is not honoured the lock is best effort; see docs/models.md.)

import Foundation
import Glibc
import Synchronization

/// An exclusive lock on a file, held until `unlock()`.
final class FileLock: Sendable {
    /// The open lock file; -1 once unlocked.
    private let descriptor: Atomic<Int32>
    /// The lock file.
    let file: URL

    private init(descriptor: Int32, file: URL) {
        self.descriptor = Atomic(descriptor)
        self.file = file
    }

    /// Takes the lock on `file` (created if needed), waiting while another holder has it. `onWait` runs once if the
    /// lock is busy, so the caller can say what it is waiting for.
    static func acquire(_ file: URL, onWait: () -> Void = {}) async throws -> FileLock {
        do {
            try FileManager.default.createDirectory(
                at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw HubError(
                .fileSystem, "cannot create the lock folder \(file.deletingLastPathComponent().path)",
                underlying: error.localizedDescription)
        }
        let fd = open(file.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw HubError(
                .fileSystem, "cannot open lock file \(file.path)", underlying: String(cString: strerror(errno)))
        }
        var waited = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR else {
                close(fd)
                throw HubError(.fileSystem, "cannot lock \(file.path)", underlying: String(cString: strerror(code)))
            }
            if !waited {
                waited = true
                onWait()
            }
            do {
                try await Task.sleep(nanoseconds: 50_000_000)
            } catch {
                close(fd)
                throw error
            }
        }
        return FileLock(descriptor: fd, file: file)
    }

    deinit {
        unlock()
    }

    /// Releases the lock (once; later calls do nothing). The lock file stays: removing it would race with a
    /// process that has just opened it.
    func unlock() {
        let fd = descriptor.exchange(-1, ordering: .acquiringAndReleasing)
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
    }
}
