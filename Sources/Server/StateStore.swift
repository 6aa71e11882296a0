// What the server keeps on disk, in its state folder (mode 0700: the registry holds webhook secrets and camera URLs
// with their credentials):
//
//   sources.json          the registry: every source with its settings and alerts (secrets, callbacks)
//   sources/<id>/         each source's session state (LiveSession persists its own memory there)
//   jobs/<id>/job.json    a captioning job: input, settings, state, timings
//   jobs/<id>/captions.*  its outputs (srt, vtt, jsonl, txt) and, while it runs, captions.vigil-journal
//
// Every file is written atomically (temporary file, fsync, rename: Memory's AtomicFile), so a crash leaves the old
// registry or the new one. The server writes only its own registry: a session's memory is the session's business.

import Foundation
import Memory
import VigilCore

/// A source as the registry keeps it.
struct SourceSpec: Codable, Sendable, Equatable {
    /// The id (also the session's name in events).
    var id: String
    /// The URL or path, as given (credentials included).
    var url: String
    /// A pipeline preset name.
    var pipeline: String?
    /// Session settings by key (`fps`, `window`, …), applied after the preset.
    var options: [String: String]
    /// Replay a file at its own pace.
    var realtime: Bool?
    /// RFC 3339 time it was added.
    var createdAt: String
    /// Given on the command line: not confined to the allowed folders.
    var trusted: Bool
    /// Its alerts.
    var alerts: [AlertSpec]

    enum CodingKeys: String, CodingKey {
        case id, url, pipeline, options, realtime, trusted, alerts
        case createdAt = "created_at"
    }
}

/// An alert (a standing question with an optional webhook) as the registry keeps it.
struct AlertSpec: Codable, Sendable, Equatable {
    /// The id (also the standing question's id in the session).
    var id: String
    /// The request as given ("tell me when a person is at the door").
    var question: String
    /// Where alerts are POSTed; nil: events only.
    var callbackURL: String?
    /// Media seconds between two alerts of this question.
    var cooldown: Double
    /// Media seconds between checks; nil: the session's setting.
    var every: Double?
    /// The HMAC-SHA256 key of the webhook signatures (hex).
    var secret: String
    /// RFC 3339 time it was created.
    var createdAt: String

    enum CodingKeys: String, CodingKey {
        case id, question, cooldown, every, secret
        case callbackURL = "callback_url"
        case createdAt = "created_at"
    }
}

/// The registry file.
struct RegistryFile: Codable, Sendable {
    /// Format version.
    var version = 1
    /// The sources, in the order they were added.
    var sources: [SourceSpec] = []
}

/// A captioning job as kept in `jobs/<id>/job.json`.
struct JobRecord: Codable, Sendable, Equatable {
    /// Where a job is.
    enum State: String, Codable, Sendable {
        case queued, running, succeeded, failed, cancelled

        /// Whether the job will not run again.
        var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }
    }

    var id: String
    /// The input file (its real path).
    var input: String
    /// The formats asked for.
    var formats: [String]
    var fps: Double
    var clipSeconds: Double
    var segmentSeconds: Double
    var framesPerClip: Int
    /// A clip prompt replacing the built-in one.
    var prompt: String?
    var state: State
    var createdAt: String
    var startedAt: String?
    var finishedAt: String?
    /// Why it failed.
    var error: String?
    /// Media seconds of the input, once known.
    var durationSeconds: Double?
    /// Wall seconds it took (the last run).
    var wallSeconds: Double?
    /// Entries written.
    var entries: Int?

    enum CodingKeys: String, CodingKey {
        case id, input, formats, fps, prompt, state, error, entries
        case clipSeconds = "clip_seconds"
        case segmentSeconds = "segment_seconds"
        case framesPerClip = "frames_per_clip"
        case createdAt = "created_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case durationSeconds = "duration_s"
        case wallSeconds = "wall_s"
    }
}

/// The state folder.
struct StateStore: Sendable {
    /// The folder.
    let root: URL

    /// The store in `root`, created (mode 0700) when missing; throws when it cannot be made or written.
    init(root: URL) throws(ServerError) {
        self.root = root.standardizedFileURL
        for folder in [self.root, self.root.appendingPathComponent("sources"), self.root.appendingPathComponent("jobs")] {
            do {
                try FileManager.default.createDirectory(
                    at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw ServerError(
                    "--state-dir \(root.path): cannot create \(folder.path) (\(error.localizedDescription)); "
                        + "give a folder this user can write")
            }
        }
        guard access(self.root.path, W_OK) == 0 else {
            throw ServerError("--state-dir \(root.path): not writable by this user; give another folder")
        }
    }

    /// `sources.json`.
    var registryPath: String { root.appendingPathComponent("sources.json").path }

    /// A source's session state folder.
    func sourceDirectory(_ id: String) -> URL { root.appendingPathComponent("sources").appendingPathComponent(id) }

    /// A job's folder.
    func jobDirectory(_ id: String) -> URL { root.appendingPathComponent("jobs").appendingPathComponent(id) }

    /// The registry (empty when there is none yet); throws when the file is there but unreadable.
    func loadRegistry() throws(ServerError) -> RegistryFile {
        guard FileManager.default.fileExists(atPath: registryPath) else { return RegistryFile() }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: registryPath))
            let registry = try JSONDecoder().decode(RegistryFile.self, from: data)
            guard registry.version == 1 else {
                throw ServerError("\(registryPath): version \(registry.version) is newer than this vigil; upgrade it")
            }
            return registry
        } catch let error as ServerError {
            throw error
        } catch {
            throw ServerError(
                "\(registryPath): cannot be read (\(error.localizedDescription)); fix or remove it (the sources it "
                    + "lists are then forgotten)")
        }
    }

    /// Writes the registry atomically.
    func save(_ registry: RegistryFile) throws(MemoryError) {
        try AtomicFile.write(Self.encode(registry), to: registryPath)
    }

    /// Every job with a readable `job.json`, oldest first (unreadable ones are skipped with a warning).
    func loadJobs() -> [JobRecord] {
        let folder = root.appendingPathComponent("jobs")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        var jobs: [JobRecord] = []
        for name in names where !name.hasPrefix(".") {
            let file = folder.appendingPathComponent(name).appendingPathComponent("job.json")
            guard let data = try? Data(contentsOf: file) else { continue }
            do {
                jobs.append(try JSONDecoder().decode(JobRecord.self, from: data))
            } catch {
                Log.warning("\(file.path): not a job record (\(error.localizedDescription)); ignored")
            }
        }
        return jobs.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// Writes a job's record atomically (its folder is made when missing).
    func save(_ job: JobRecord) throws(MemoryError) {
        let folder = jobDirectory(job.id)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw .writeFailed(path: folder.path, reason: error.localizedDescription)
        }
        try AtomicFile.write(Self.encode(job), to: folder.appendingPathComponent("job.json").path)
    }

    /// Removes a folder of the store (a deleted source's state, a deleted job).
    func remove(_ folder: URL) {
        try? FileManager.default.removeItem(at: folder)
    }

    private static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding these plain records cannot fail.
        return String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self) + "\n"
    }
}

/// Now as RFC 3339 UTC with milliseconds.
func nowText() -> String { WallTime.format(Date()) }
