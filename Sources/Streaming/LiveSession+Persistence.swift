// Persistent sessions (docs/memory.md, "Persistence"): a session with a name keeps its memory in a `SessionStore` —
// captions and summaries, the synopsis state, the feature bank's files and graph, standing questions, runs — so
// a session killed (even with SIGKILL) and started again resumes with everything written before, its media time
// continuing after the last frame it had.
//
// What is written when:
//   - every caption and summary, in one transaction as it is made (durable when `append` returns);
//   - every `saveInterval` media seconds and at a clean stop: the bank files flushed, then the synopsis state and
//     the progress (frame, media time) in one transaction — so a saved synopsis never names a frame the bank lost;
//     frames the bank has beyond the saved synopsis are replayed into it on the next start;
//   - standing questions when registered, fired (one-shot ones) or cancelled;
//   - at a clean stop, also the global-key graph (after a kill it is rebuilt from the bank's keys).
// A store error never stops the stream: it is counted, reported once as an `error` event, and the session goes on
// without persisting.

import Foundation
import Memory
import SessionStore
import SmolVLM
import VigilCore

/// Where a persistent session lives: its name under a state folder.
public struct PersistentSession: Sendable, Equatable {
    /// 1–64 letters, digits, '.', '_' or '-'.
    public var name: String
    /// The state folder (nil: `$VIGIL_STATE`, else `$XDG_STATE_HOME/vigil`, else `~/.local/state/vigil`).
    public var stateDirectory: String?

    public init(name: String, stateDirectory: String? = nil) {
        self.name = name
        self.stateDirectory = stateDirectory
    }
}

/// A session's open store and the run it is in.
final class SessionPersistence: Sendable {
    let store: SessionStore
    let run: SessionRun
    /// Media seconds between synopsis saves.
    let saveInterval: Double

    init(store: SessionStore, run: SessionRun, saveInterval: Double) {
        self.store = store
        self.run = run
        self.saveInterval = saveInterval
    }
}

/// What a persistent session brought back from its store.
struct RestoredState {
    var persistence: SessionPersistence?
    var featureMemory: FeatureMemory?
    var entries: [TextMemoryEntry] = []
    var standing: [StandingQuestion] = []
}

extension LiveSession {
    /// Opens (or creates) the session's store and restores what it holds. Throws a clear error for a session in use,
    /// a damaged or foreign database, or one recorded with another model — changing nothing on disk.
    static func restore(
        _ p: PersistentSession, source: String, model: VisionLanguageModel, configuration c: SessionConfiguration,
        featureConfiguration: FeatureMemoryConfiguration?
    ) throws -> RestoredState {
        let store = try SessionStore.open(name: p.name, stateDirectory: p.stateDirectory, create: true)
        do throws(any Error) {
            let metadata = try store.metadata()
            if let recorded = metadata.model, recorded != model.name {
                throw SessionError.model(
                    "session '\(p.name)' was recorded with the model \(recorded), not \(model.name): resume it with "
                        + "that model, or give another --session name")
            }
            try store.updateMetadata {
                $0.source = source
                $0.model = model.name
                $0.settingsJSON = c.settingsJSON
            }
            var restored = RestoredState()
            if var features = featureConfiguration {
                if let saved = try store.featureMemoryConfiguration() {
                    guard saved.geometry == features.geometry else {
                        throw SessionError.model(
                            "session '\(p.name)' holds frames of \(saved.geometry), this model makes "
                                + "\(features.geometry): give another --session name")
                    }
                    let plan = features.plan
                    features = saved
                    features.plan = plan
                } else {
                    features.bank.directory = store.bankDirectory
                    try store.setFeatureMemory(features)
                }
                let synopsis = try store.latestSynopsis()
                restored.featureMemory = try FeatureMemory(configuration: features, restoring: synopsis?.state)
            }
            restored.entries = try store.entries()
            for q in try store.standingQuestions(state: .active) {
                restored.standing.append(
                    StandingQuestion(
                        id: "w\(q.id)", condition: q.text, since: q.createdMediaTime ?? 0, pollInterval: q.pollInterval,
                        state: .watching, firedAt: nil, checks: 0, skipped: 0, lastCheck: nil, cooldown: nil))
            }
            let run = try store.beginRun(
                after: restored.featureMemory?.lastFrame, frameInterval: 1 / max(c.fps, 1e-3))
            restored.persistence = SessionPersistence(
                store: store, run: run, saveInterval: max(1, c.persistInterval))
            return restored
        } catch {
            store.close()
            throw error
        }
    }

    /// Records a caption or summary just added to the text memory.
    func persist(_ entry: TextMemoryEntry) {
        guard let persistence else { return }
        do {
            try persistence.store.append(entry)
        } catch {
            persistFailed(error)
        }
    }

    /// Saves the synopsis and progress when `saveInterval` media seconds have passed since the last save (or now,
    /// with `force`).
    func persistProgress(at time: Double, force: Bool = false) {
        guard let persistence, !persistFailedOnce else { return }
        guard force || time - lastPersistTime >= persistence.saveInterval else { return }
        lastPersistTime = time
        do {
            if let featureMemory {
                try featureMemory.flush()
                if let last = featureMemory.lastFrame {
                    try persistence.store.saveSynopsis(featureMemory.synopsisState, lastFrame: last.id, mediaTime: last.time)
                }
            }
            if let frame = lastPersistedFrame { try persistence.store.recordProgress(frame: frame, mediaTime: time) }
        } catch {
            persistFailed(error)
        }
    }

    /// A standing question registered on this session (not by id from outside) is kept in the store.
    nonisolated func persistStanding(_ condition: String, pollInterval: Double) -> String? {
        guard let persistence else { return nil }
        return (try? persistence.store.addStandingQuestion(
            condition, pollInterval: pollInterval, mediaTime: currentMediaTime)).map { "w\($0.id)" }
    }

    /// The store's id of a standing question it keeps.
    func storedStandingID(_ id: String) -> Int64? {
        guard persistence != nil, persistedStanding.contains(id), id.hasPrefix("w") else { return nil }
        return Int64(id.dropFirst())
    }

    func persistFired(_ id: String, at time: Double) {
        guard let persistence, let stored = storedStandingID(id) else { return }
        do { try persistence.store.markFired(stored, mediaTime: time, answer: "yes") } catch { persistFailed(error) }
    }

    func persistCancelled(_ id: String) {
        guard let persistence, let stored = storedStandingID(id) else { return }
        do { try persistence.store.cancelStandingQuestion(stored) } catch { persistFailed(error) }
    }

    /// At a clean stop: the last synopsis and progress, the global-key graph, then the store closed.
    func closePersistence() {
        guard let persistence else { return }
        persistProgress(at: lastDeliveredTime ?? lastPersistTime, force: true)
        if let featureMemory {
            do { try featureMemory.saveGlobalKeyIndex() } catch { persistFailed(error) }
            featureMemory.close()
        }
        persistence.store.close()
    }

    private func persistFailed(_ error: any Error) {
        counters.persistErrors += 1
        guard !persistFailedOnce else { return }
        persistFailedOnce = true
        let message = (error as? any UserFacingError)?.description ?? "\(error)"
        Log.warning("\(name): the session's memory is no longer saved: \(message)")
        events.publish(.error(source: name, code: "persist_failed", message: message, retryIn: nil))
    }
}

extension SessionConfiguration {
    /// The settings that shape a session, as JSON (kept in a persistent session's metadata).
    var settingsJSON: String {
        JSONValue.object([
            ("fps", .double(fps)), ("cache_interval", .int(cacher.interval)), ("update_ratio", .double(cacher.updateRatio)),
            ("keep_tokens", .int(pruner.keep)), ("window_s", .double(budget.visionWindowSeconds)),
            ("max_positions", .int(budget.maxPositions)), ("clip_s", .double(memory.clipSeconds)),
            ("segment_s", .double(memory.segmentSeconds)), ("feature_memory", .bool(featureMemory)),
            ("captions", .bool(captions)),
        ]).serialized()
    }
}
