// Puts one file's blob into the cache, safely with other downloaders around:
//
//   1. blobs/<etag> already there with the right size → done (whoever wrote it).
//   2. Take the flock on .locks/models--org--name/<etag>.lock (wait while another process or task holds it), and
//      look again: the holder may just have finished it.
//   3. Continue blobs/<etag>.incomplete from its last byte: GET with `Range: bytes=<n>-` (a 200 instead of 206
//      means the server ignored the range: start over). Redirects are followed by HubClient, the token stays on
//      the endpoint. A transfer that breaks off is resumed from what was written, up to `maxAttempts` times in a
//      row without progress; then the error is reported and the partial file kept for the next run.
//   4. Check the size, and the SHA-256 when the etag is one (LFS files); a mismatch deletes the partial file.
//   5. fsync and rename to blobs/<etag>; release the lock.

import Foundation
import VigilCore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Downloads blobs into a cache.
struct BlobDownloader: Sendable {
    let client: HubClient
    let cache: HubCache
    /// Whether to draw a progress bar on stderr.
    let showsProgress: Bool

    /// Failed transfers in a row (without new bytes) before a download gives up.
    static let maxAttempts = 5

    /// Makes sure `blobs/<etag>` of `remote` is in the cache, downloading it from its commit when needed.
    func fetch(repo: String, remote: RemoteFile) async throws {
        let blob = cache.blobFile(repo: repo, etag: remote.etag)
        if HubCache.fileSize(blob) == remote.size { return }
        try cache.makeFolder(blob.deletingLastPathComponent())
        let lockFile = cache.lockFile(repo: repo, etag: remote.etag)
        let lock = try await FileLock.acquire(lockFile) {
            Log.info("waiting for another download of '\(remote.file)' of '\(repo)' (lock \(lockFile.path))")
        }
        defer { lock.unlock() }
        if HubCache.fileSize(blob) == remote.size { return }
        try await transfer(repo: repo, remote: remote, to: blob)
    }

    private func transfer(repo: String, remote: RemoteFile, to blob: URL) async throws {
        let verifiesDigest = HubClient.isSHA256(remote.etag)
        let partial = try PartialBlob(
            url: cache.incompleteFile(repo: repo, etag: remote.etag), hashing: verifiesDigest)
        defer { partial.close() }
        if partial.length > remote.size { try partial.restart() }
        if partial.length > 0 {
            Log.info("resuming '\(remote.file)' of '\(repo)' at \(ByteFormat.string(partial.length))")
        } else {
            Log.info("downloading '\(remote.file)' of '\(repo)' (\(ByteFormat.string(remote.size)))")
        }
        let progress = DownloadProgress(
            label: remote.file, total: remote.size, initial: partial.length, enabled: showsProgress)
        defer { progress.finish() }

        do {
            try await receive(repo: repo, remote: remote, into: partial, progress: progress)
        } catch {
            // Keep a partial file worth resuming; an empty one (a refused or failed first request) goes.
            if partial.length == 0 { partial.discard() }
            throw error
        }
        if partial.length != remote.size { throw sizeMismatch(repo: repo, remote: remote, partial) }
        if verifiesDigest, let digest = partial.sha256, digest != remote.etag {
            partial.discard()
            throw HubError(
                .corruptDownload,
                "the downloaded '\(remote.file)' of '\(repo)' has SHA-256 \(digest) but the hub announced "
                    + "\(remote.etag); the bad file was deleted: run again, and if it happens again check HF_ENDPOINT "
                    + "and any proxy in between")
        }
        try partial.complete(as: blob)
    }

    /// Requests the missing bytes until the partial file has `remote.size` of them.
    private func receive(
        repo: String, remote: RemoteFile, into partial: PartialBlob, progress: DownloadProgress
    ) async throws {
        let url = client.resolveURL(repo: repo, revision: remote.commit, file: remote.file)
        var failures = 0
        while partial.length < remote.size {
            let offset = partial.length
            do {
                let (response, finalURL) = try await client.download(
                    url, from: offset, repo: repo, file: remote.file
                ) { response in
                    Self.sink(for: response, offset: offset, partial: partial, progress: progress)
                }
                switch response.statusCode {
                case 200, 206:
                    if partial.length > remote.size { throw sizeMismatch(repo: repo, remote: remote, partial) }
                    if partial.length < remote.size && partial.length == offset {
                        // Nothing usable arrived (or a 206 for another range): count it as a failed attempt.
                        throw HubError(
                            .network, "no data for '\(remote.file)' of '\(repo)' from \(finalURL)")
                    }
                case 416:
                    try partial.restart()
                    throw HubError(.network, "the server refused to resume '\(remote.file)' at byte \(offset)")
                default:
                    throw client.statusError(
                        response, url: finalURL, repo: repo, revision: remote.commit, file: remote.file)
                }
            } catch let error as HubError where error.code == .network {
                failures = partial.length > offset ? 0 : failures + 1
                guard failures < Self.maxAttempts else {
                    throw HubError(
                        .network,
                        error.message
                            + " (gave up after \(failures) attempts; the \(ByteFormat.string(partial.length)) "
                            + "downloaded so far are kept in \(partial.url.path) and resume next time)",
                        underlying: error.underlying)
                }
                Log.info(
                    "download of '\(remote.file)' interrupted at \(ByteFormat.string(partial.length)) "
                        + "(\(error.underlying ?? error.message)); resuming")
                if failures > 0 {
                    try await Task.sleep(nanoseconds: UInt64(250_000_000) << UInt64(failures - 1))
                }
            }
        }
    }

    /// Where the body of a GET answer goes: appended after `offset` for a matching 206, written from the start
    /// for a 200 (the range was ignored), nowhere otherwise.
    private static func sink(
        for response: HTTPURLResponse, offset: Int64, partial: PartialBlob, progress: DownloadProgress
    ) -> BodySink? {
        switch response.statusCode {
        case 206:
            guard rangeStart(response) == offset else { return nil }
        case 200:
            if offset > 0 {
                do {
                    try partial.restart()
                } catch {
                    return { _ in throw error }
                }
            }
        default:
            return nil
        }
        return { data in
            try partial.append(data)
            progress.update(partial.length)
        }
    }

    /// The first byte of a 206 answer, from `Content-Range: bytes <first>-<last>/<total>`.
    static func rangeStart(_ response: HTTPURLResponse) -> Int64? {
        guard let text = response.value(forHTTPHeaderField: "Content-Range") else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("bytes ") else { return nil }
        let range = trimmed.dropFirst(6)
        guard let dash = range.firstIndex(of: "-") else { return nil }
        return Int64(range[..<dash].trimmingCharacters(in: .whitespaces))
    }

    private func sizeMismatch(repo: String, remote: RemoteFile, _ partial: PartialBlob) -> HubError {
        partial.discard()
        return HubError(
            .corruptDownload,
            "the downloaded '\(remote.file)' of '\(repo)' has \(partial.length) bytes but the hub announced "
                + "\(remote.size); the bad file was deleted: run again, and if it happens again check HF_ENDPOINT "
                + "and any proxy in between")
    }
}
