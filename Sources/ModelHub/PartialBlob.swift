// A blob being downloaded: `blobs/<etag>.incomplete`, appended to as bytes arrive, and renamed to `blobs/<etag>`
// once its size (and SHA-256, when the etag is one) check out. Reopening an existing partial file continues after
// its last byte, which is how an interrupted download resumes (with an HTTP Range request). When the digest is
// checked, the bytes already on disk are hashed on open and new ones as they are written, so the whole file is
// never read twice.

import Foundation
import Glibc
import VigilCrypto

/// A partial download on disk. Not thread-safe: used by one transfer at a time.
final class PartialBlob: @unchecked Sendable {
    // @unchecked: written only from the HTTP delegate queue while a request runs, and from the downloading task
    // between requests (the two never overlap: the task awaits the request).

    /// The `.incomplete` file.
    let url: URL
    /// Bytes on disk.
    private(set) var length: Int64 = 0
    private var descriptor: Int32
    private var hasher: SHA256?

    /// Opens (or creates) `url` to continue writing after its last byte; hashes what is there when `hashing`.
    init(url: URL, hashing: Bool) throws(HubError) {
        self.url = url
        descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
        guard descriptor >= 0 else {
            throw HubError(.fileSystem, "cannot open \(url.path)", underlying: String(cString: strerror(errno)))
        }
        if hashing { hasher = SHA256() }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw failure("cannot read") }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher?.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            length += Int64(n)
        }
    }

    deinit {
        close()
    }

    /// Empties the file to start over (the server ignored the range, or the partial file was bad).
    func restart() throws(HubError) {
        guard ftruncate(descriptor, 0) == 0, lseek(descriptor, 0, SEEK_SET) == 0 else { throw failure("cannot reset") }
        length = 0
        if hasher != nil { hasher = SHA256() }
    }

    /// Appends `data`.
    func append(_ data: Data) throws(HubError) {
        var error: HubError?
        data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    error = failure("cannot write")
                    return
                }
                offset += n
            }
            hasher?.update(bytes)
        }
        if let error { throw error }
        length += Int64(data.count)
    }

    /// The SHA-256 of the bytes on disk, when hashing.
    var sha256: String? { hasher?.hexDigest() }

    /// Flushes the file to disk, closes it and renames it to `blob`.
    func complete(as blob: URL) throws(HubError) {
        guard fsync(descriptor) == 0 else { throw failure("cannot flush") }
        close()
        guard rename(url.path, blob.path) == 0 else {
            throw HubError(
                .fileSystem, "cannot move \(url.path) to \(blob.path)", underlying: String(cString: strerror(errno)))
        }
    }

    /// Closes and deletes the file (its content is known to be wrong).
    func discard() {
        close()
        unlink(url.path)
    }

    /// Closes the file (idempotent).
    func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
    }

    private func failure(_ what: String) -> HubError {
        HubError(
            .fileSystem, "\(what) \(url.path): check free space and permissions of the cache",
            underlying: String(cString: strerror(errno)))
    }
}
