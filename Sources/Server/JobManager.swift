// Batch captioning jobs (`POST /v1/jobs`): each job captions one file into SRT, WebVTT, JSONL and text with
// Streaming's CaptionJob, exactly as `vigil caption` does — every finished entry appended to a journal (fsync'd)
// beside the outputs in `jobs/<id>/`, the outputs written atomically at the end. Jobs run in the order they were
// made, `maxConcurrentJobs` at a time, at low priority on the compute thread (after every source's frames and
// answers). A job's record (`job.json`) is rewritten at each change of state, so a restarted server keeps finished
// jobs and resumes unfinished ones from their journals.

import Foundation
import Memory
import SmolVLM
import Streaming
import Synchronization
import VigilCore
import HTTPServer

/// The captioning jobs of a server.
final class JobManager: Sendable {
    private struct Entry {
        var record: JobRecord
        var progress: CaptionProgress?
        var cancelRequested = false
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var order: [String] = []
        var running: [String: Task<Void, Never>] = [:]
        var model: VisionLanguageModel?
        var stopping = false
    }

    private let state = Mutex(State())
    private let stopFlags = Mutex<[String: Bool]>([:])
    let store: StateStore
    let maxConcurrent: Int
    let scheduler: ComputeScheduler

    init(store: StateStore, maxConcurrent: Int, scheduler: ComputeScheduler) {
        self.store = store
        self.maxConcurrent = max(1, maxConcurrent)
        self.scheduler = scheduler
    }

    /// The output base name inside a job's folder.
    static let baseName = "captions"

    // MARK: - Lifecycle

    /// Reads the jobs kept in the state folder; unfinished ones wait for `start`.
    func restore() {
        let records = store.loadJobs()
        state.withLock { s in
            for var record in records where s.entries[record.id] == nil {
                if record.state == .running { record.state = .queued }
                s.entries[record.id] = Entry(record: record)
                s.order.append(record.id)
            }
        }
    }

    /// Starts running queued jobs with `model`.
    func start(model: VisionLanguageModel) {
        state.withLock { $0.model = model }
        pump()
    }

    /// Stops: running jobs stop at their next clip (their journals stay for the next start) and are awaited.
    func stop() async {
        let running = state.withLock { s -> [Task<Void, Never>] in
            s.stopping = true
            return Array(s.running.values)
        }
        stopFlags.withLock { flags in for key in flags.keys { flags[key] = true } }
        for task in running { await task.value }
    }

    // MARK: - API

    /// Adds a job (its input already confined and resolved); it starts when a slot is free.
    func create(_ record: JobRecord) throws(HTTPError) -> JobRecord {
        do {
            try store.save(record)
        } catch {
            Log.warning("cannot save job \(record.id): \(error)")
            throw .internalError()
        }
        state.withLock { s in
            s.entries[record.id] = Entry(record: record)
            s.order.append(record.id)
        }
        pump()
        return record
    }

    /// The job `id` and its progress.
    func job(_ id: String) -> (record: JobRecord, progress: CaptionProgress?)? {
        state.withLock { s in s.entries[id].map { ($0.record, $0.progress) } }
    }

    /// Every job, oldest first.
    var all: [(record: JobRecord, progress: CaptionProgress?)] {
        state.withLock { s in s.order.compactMap { s.entries[$0].map { ($0.record, $0.progress) } } }
    }

    /// Jobs per state (metrics).
    var stateCounts: [String: Int] {
        var counts: [String: Int] = [:]
        for state in ["queued", "running", "succeeded", "failed", "cancelled"] { counts[state] = 0 }
        for job in all { counts[job.record.state.rawValue, default: 0] += 1 }
        return counts
    }

    /// Cancels a queued or running job (it is kept, cancelled), or forgets a finished one with its files. Returns
    /// the job as it is after the call (nil: it was removed), or throws 404.
    func cancelOrRemove(_ id: String) throws(HTTPError) -> JobRecord? {
        enum Action { case none, cancelled(JobRecord), stopRunning, remove }
        let action: Action = state.withLock { s in
            guard var entry = s.entries[id] else { return .none }
            switch entry.record.state {
            case .queued:
                entry.record.state = .cancelled
                entry.record.finishedAt = nowText()
                s.entries[id] = entry
                return .cancelled(entry.record)
            case .running:
                entry.cancelRequested = true
                s.entries[id] = entry
                return .stopRunning
            case .succeeded, .failed, .cancelled:
                s.entries.removeValue(forKey: id)
                s.order.removeAll { $0 == id }
                return .remove
            }
        }
        switch action {
        case .none:
            throw APIError.unknownJob(id)
        case .cancelled(let record):
            try? store.save(record)
            return record
        case .stopRunning:
            stopFlags.withLock { $0[id] = true }
            return job(id)?.record
        case .remove:
            store.remove(store.jobDirectory(id))
            return nil
        }
    }

    /// The text of a finished job's output in `format`.
    func result(_ id: String, format: CaptionFormat) throws(HTTPError) -> String {
        guard let (record, _) = job(id) else { throw APIError.unknownJob(id) }
        guard record.state == .succeeded else {
            throw APIError.conflict(
                "job '\(id)' is \(record.state.rawValue); its result is there once it has succeeded")
        }
        guard record.formats.contains(format.rawValue) else {
            throw .notFound(
                "job '\(id)' was asked for \(record.formats.joined(separator: ", ")), not \(format.rawValue)")
        }
        let path = store.jobDirectory(id).appendingPathComponent(Self.baseName + "." + format.fileExtension).path
        guard let data = FileManager.default.contents(atPath: path) else {
            Log.warning("job \(id): \(path) is missing")
            throw .internalError()
        }
        return String(decoding: data, as: UTF8.self)
    }

    // MARK: - Running

    /// Starts queued jobs while slots are free.
    private func pump() {
        let starting: [(String, VisionLanguageModel)] = state.withLock { s in
            guard let model = s.model, !s.stopping else { return [] }
            var out: [(String, VisionLanguageModel)] = []
            for id in s.order where s.running.count + out.count < maxConcurrent {
                guard let entry = s.entries[id], entry.record.state == .queued, s.running[id] == nil else { continue }
                out.append((id, model))
            }
            return out
        }
        for (id, model) in starting {
            stopFlags.withLock { $0[id] = false }
            let task = Task(priority: .low) { [weak self] in
                await self?.run(id, model: model)
                self?.finished(id)
            }
            let started = state.withLock { s -> Bool in
                guard s.running[id] == nil else { return false }
                s.running[id] = task
                return true
            }
            if !started { task.cancel() }
        }
    }

    private func finished(_ id: String) {
        state.withLock { _ = $0.running.removeValue(forKey: id) }
        stopFlags.withLock { _ = $0.removeValue(forKey: id) }
        pump()
    }

    private func update(_ id: String, _ change: (inout Entry) -> Void) -> JobRecord? {
        let record = state.withLock { s -> JobRecord? in
            guard var entry = s.entries[id] else { return nil }
            change(&entry)
            s.entries[id] = entry
            return entry.record
        }
        if let record {
            do { try store.save(record) } catch { Log.warning("cannot save job \(id): \(error)") }
        }
        return record
    }

    /// Caption settings of a job's record.
    static func settings(of record: JobRecord) -> CaptionSettings {
        var settings = CaptionSettings()
        settings.fps = record.fps
        settings.schedule.clipSeconds = record.clipSeconds
        settings.schedule.segmentSeconds = record.segmentSeconds
        settings.framesPerClip = record.framesPerClip
        return settings
    }

    private func run(_ id: String, model: VisionLanguageModel) async {
        guard let record = update(id, { e in
            e.record.state = .running
            e.record.startedAt = nowText()
            e.record.error = nil
        }) else { return }
        let folder = store.jobDirectory(id)
        let outputs = CaptionOutputs(
            directory: folder.path, baseName: Self.baseName,
            formats: CaptionFormat.allCases.filter { record.formats.contains($0.rawValue) })
        var settings = Self.settings(of: record)
        let shouldStop: @Sendable () -> Bool = { [weak self] in self?.stopFlags.withLock { $0[id] ?? true } ?? true }
        do {
            settings.prompts = try CaptionPrompts.load()
            if let prompt = record.prompt { settings.prompts.clip = prompt }
            settings.pruner.keep = min(settings.pruner.keep, model.tokensPerFrame)
            let fingerprint = settings.fingerprint.merging(["model": model.name, "precision": model.precision.rawValue]) {
                a, _ in a
            }
            let identity = try JournalIdentity.of(
                inputAt: record.input, settings: JournalIdentity.fingerprint(fingerprint))
            var jobState: CaptionJobState
            do throws(MemoryError) {
                jobState = try outputs.state(identity: identity)
            } catch {
                // A journal of another input or other settings: start over (`create` replaces it).
                guard error.code == "foreign_journal" else { throw error }
                jobState = .start
            }
            let journal: CaptionJournal
            var done: [TextMemoryEntry] = []
            switch jobState {
            case .complete:
                _ = update(id) { e in Self.succeed(&e, entries: nil, duration: nil, wall: nil) }
                return
            case .writeOutputs(let contents):
                try outputs.write(contents.entries, options: CaptionWriter.Options(runDetails: false))
                try outputs.removeJournal()
                _ = update(id) { e in Self.succeed(&e, entries: contents.entries.count, duration: nil, wall: nil) }
                return
            case .resume(let contents):
                (journal, _) = try CaptionJournal.resume(at: outputs.journalPath, identity: identity)
                done = contents.entries
            case .start:
                journal = try CaptionJournal.create(at: outputs.journalPath, identity: identity)
            }
            let job = CaptionJob(model: model, source: record.input, settings: settings, resumeWith: done, scheduler: scheduler)
            let report = try await job.run(
                onEntry: { entry in try journal.append(entry) },
                onProgress: { [weak self] progress in _ = self?.state.withLock { $0.entries[id]?.progress = progress } },
                shouldStop: shouldStop)
            if report.stoppedEarly {
                journal.close()
                let cancelled = state.withLock { $0.entries[id]?.cancelRequested ?? false }
                _ = update(id) { e in
                    // Cancelled by a client: kept as cancelled. Stopped by the server: resumed at the next start.
                    e.record.state = cancelled ? .cancelled : .queued
                    if cancelled { e.record.finishedAt = nowText() }
                }
                return
            }
            try journal.markFinished()
            try outputs.write(
                report.entries, options: CaptionWriter.Options(mediaDuration: report.duration, runDetails: false))
            journal.close()
            try outputs.removeJournal()
            _ = update(id) { e in
                Self.succeed(&e, entries: report.entries.count, duration: report.duration, wall: report.wallSeconds)
            }
        } catch {
            let message = (error as? any UserFacingError)?.description ?? "\(error)"
            Log.warning("job \(id): \(message)")
            // Clients see the input's path (theirs), not the server's state folder.
            let shown = message.replacingOccurrences(of: store.root.path, with: "the server's state folder")
            _ = update(id) { e in
                e.record.state = .failed
                e.record.error = shown
                e.record.finishedAt = nowText()
            }
        }
    }

    private static func succeed(_ e: inout Entry, entries: Int?, duration: Double?, wall: Double?) {
        e.record.state = .succeeded
        e.record.finishedAt = nowText()
        if let entries { e.record.entries = entries }
        if let duration { e.record.durationSeconds = duration }
        if let wall { e.record.wallSeconds = wall }
    }

    /// The job as the API shows it.
    static func json(_ record: JobRecord, progress: CaptionProgress?) -> JSONValue {
        let duration = progress?.duration ?? record.durationSeconds
        let media = record.state == .succeeded ? duration : progress?.mediaTime
        var fraction: Double?
        if record.state == .succeeded {
            fraction = 1
        } else if let media, let duration, duration > 0 {
            fraction = min(1, media / duration)
        }
        let speed = progress.map(\.speed).flatMap { $0 > 0 ? $0 : nil }
        var eta: Double?
        if record.state == .running, let speed, let duration, let media { eta = max(0, duration - media) / speed }
        return .object([
            ("id", .string(record.id)), ("object", .string("caption_job")), ("state", .string(record.state.rawValue)),
            ("input", .string(record.input)), ("formats", .array(record.formats.map(JSONValue.string))),
            ("progress", .double(fraction.map { ($0 * 1000).rounded() / 1000 })), ("media_s", .double(media)),
            ("duration_s", .double(duration)), ("speed_x", .double(speed.map { ($0 * 100).rounded() / 100 })),
            ("eta_s", .double(eta.map { $0.rounded() })), ("entries", .int(record.state.isFinal ? record.entries : progress?.entries)),
            (
                "settings",
                .object([
                    ("fps", .double(record.fps)), ("clip_seconds", .double(record.clipSeconds)),
                    ("segment_seconds", .double(record.segmentSeconds)), ("frames_per_clip", .int(record.framesPerClip)),
                ])
            ),
            ("created_at", .string(record.createdAt)), ("started_at", .string(record.startedAt)),
            ("finished_at", .string(record.finishedAt)),
            ("wall_s", .double(record.wallSeconds.map { ($0 * 1000).rounded() / 1000 })),
            ("error", .string(record.error)),
        ])
    }
}
