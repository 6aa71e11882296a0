// One live source of the server: its registry entry (settings, alerts), its LiveSession, the gate that bounds the
// questions waiting on it, and the latest frame as PNG for the web page. The server's registry of sources is here
// too: a lock-protected table in the order sources were added.
//
// Questions go through `ask`, which counts against the gate and forwards the session's answer stream. The forwarding
// task reads the session's stream to its end even when the HTTP client has gone (the engine answers every question
// it accepted), so the slot is freed and the answer's timings are recorded exactly when the answer finishes.

import Foundation
import HTTPServer
import MediaIngest
import Streaming
import Synchronization
import VigilCore

/// At most `limit` holders at once.
final class QuestionGate: Sendable {
    /// Holders at most.
    let limit: Int
    private let held = Atomic<Int>(0)

    init(limit: Int) { self.limit = max(0, limit) }

    /// Takes a slot; false when all are held.
    func tryReserve() -> Bool {
        var current = held.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = held.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives a slot back.
    func release() { held.subtract(1, ordering: .acquiringAndReleasing) }

    /// Slots held now.
    var count: Int { held.load(ordering: .acquiring) }
}

/// A source the server runs.
final class ManagedSource: Sendable {
    /// Its id.
    let id: String
    /// Its session.
    let session: LiveSession
    /// Bounds its questions.
    let gate: QuestionGate
    private let specBox: Mutex<SourceSpec>
    private let frameCache = Mutex<(time: Double, png: Data)?>(nil)
    private let standingCache = Mutex<[StandingQuestion]>([])
    private let refreshing = Atomic<Bool>(false)
    private let tasks = Mutex<[Task<Void, Never>]>([])

    init(spec: SourceSpec, session: LiveSession, maxQueuedQuestions: Int) {
        id = spec.id
        specBox = Mutex(spec)
        self.session = session
        gate = QuestionGate(limit: maxQueuedQuestions)
    }

    /// Its registry entry now.
    var spec: SourceSpec { specBox.withLock { $0 } }

    /// Changes its registry entry.
    func updateSpec(_ change: (inout SourceSpec) -> Void) {
        specBox.withLock { change(&$0) }
    }

    /// Keeps `task` to cancel when the source goes away (its event watcher).
    func own(_ task: Task<Void, Never>) { tasks.withLock { $0.append(task) } }

    /// Stops the session, ends its event streams and cancels its tasks.
    func shutDown() async {
        _ = await session.stop()
        session.events.finish()
        for task in tasks.withLock({ $0 }) { task.cancel() }
    }

    /// Asks `question` now, holding a slot of the gate until the answer has finished; nil when the gate is full.
    /// `onFinish` receives the finished answer (whether or not anyone still reads the stream).
    func ask(_ question: String, maxTokens: Int?, onFinish: @escaping @Sendable (AnswerEvent) -> Void)
        -> AsyncStream<AnswerUpdate>?
    {
        guard gate.tryReserve() else { return nil }
        let upstream = session.ask(question, maxTokens: maxTokens)
        let (stream, continuation) = AsyncStream<AnswerUpdate>.makeStream()
        let gate = self.gate
        Task {
            for await update in upstream {
                continuation.yield(update)
                if case .finished(let answer) = update { onFinish(answer) }
            }
            gate.release()
            continuation.finish()
        }
        return stream
    }

    /// The newest sampled frame as PNG and its media time (encoded once per frame); nil before the first frame.
    func latestFramePNG() throws(MediaError) -> (time: Double, png: Data)? {
        guard let frame = session.latestFrame else { return nil }
        if let cached = frameCache.withLock({ $0 }), cached.time == frame.time { return cached }
        let png = Data(try ImageFile.pngData(frame.image))
        frameCache.withLock { $0 = (frame.time, png) }
        return (frame.time, png)
    }

    /// Reads the standing questions' state into the cache: a hop to the compute thread, which waits behind every
    /// frame being encoded, so only the event watcher does it (at each status event), never a request.
    func refreshStanding() async {
        let read = await session.standingQuestions()
        standingCache.withLock { cache in
            // A read that started before an alert was seen must not undo it.
            cache = read.map { q in
                guard let seen = cache.first(where: { $0.id == q.id }), seen.fireCount > q.fireCount else { return q }
                var merged = q
                merged.fireCount = seen.fireCount
                merged.firedAt = seen.firedAt
                return merged
            }
        }
    }

    /// Starts `refreshStanding` in the background unless one is under way (the event watcher never waits on it).
    func requestStandingRefresh() {
        guard !refreshing.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Task(priority: .low) { [weak self] in
            await self?.refreshStanding()
            self?.refreshing.store(false, ordering: .releasing)
        }
    }

    /// Notes an alert of standing question `id` at media time `at` in the cache (as the session itself has).
    func noteAlert(_ id: String, at: Double) {
        standingCache.withLock { cache in
            guard let i = cache.firstIndex(where: { $0.id == id }) else { return }
            cache[i].fireCount += 1
            cache[i].firedAt = at
        }
    }

    /// The standing questions' state as last read.
    var cachedStanding: [StandingQuestion] { standingCache.withLock { $0 } }

    /// The source as the API shows it: its settings (credentials hidden), its C2 status object, its queue, and
    /// its alerts with their standing questions' state as last read (their secrets only when `secrets`: the answer
    /// that makes them). Never waits for the compute thread.
    func json(secrets: Bool = false) -> JSONValue {
        let spec = self.spec
        let standing = cachedStanding
        var members: [(String, JSONValue)] = [
            ("id", .string(id)), ("url", .string(Self.redacted(spec.url))), ("pipeline", .string(spec.pipeline)),
            ("options", .object(spec.options.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("realtime", spec.realtime.map(JSONValue.bool) ?? .null), ("created_at", .string(spec.createdAt)),
            ("status", session.status.event.json), ("questions_queued", .int(gate.count)),
        ]
        if let frame = session.latestFrame { members.append(("latest_frame_at", .double(frame.time))) }
        members.append(
            ("alerts", .array(spec.alerts.map { Self.alertJSON($0, source: id, standing: standing, secret: secrets) })))
        return .object(members)
    }

    /// An alert as the API shows it, without its secret unless `secret` (only the answer that creates it has it).
    static func alertJSON(_ alert: AlertSpec, source: String, standing: [StandingQuestion], secret: Bool = false)
        -> JSONValue
    {
        let question = standing.first { $0.id == alert.id }
        var members: [(String, JSONValue)] = [
            ("id", .string(alert.id)), ("source", .string(source)), ("question", .string(alert.question)),
            ("condition", .string(StandingQuestion.condition(from: alert.question))),
            ("callback_url", .string(alert.callbackURL)), ("cooldown_s", .double(alert.cooldown)),
            ("every_s", .double(alert.every)), ("created_at", .string(alert.createdAt)),
            ("state", .string(question?.state.rawValue ?? "registering")),
            ("alerts_raised", .int(question?.fireCount ?? 0)), ("last_alert_at", .double(question?.firedAt)),
            ("checks", .int(question?.checks ?? 0)),
        ]
        if secret { members.append(("secret", .string(alert.secret))) }
        return .object(members)
    }

    /// `url` with the password of its user info replaced by `***` (`rtsp://user:***@cam/stream`).
    static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        let userInfo = rest[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<scheme.upperBound]) + userInfo[..<colon] + ":***" + rest[at...]
    }
}

/// The server's sources, in the order they were added.
final class SourceRegistry: Sendable {
    private struct State {
        var order: [String] = []
        var sources: [String: ManagedSource] = [:]
    }

    private let state = Mutex(State())

    /// The source `id`, if there is one.
    func source(_ id: String) -> ManagedSource? { state.withLock { $0.sources[id] } }

    /// Every source, in order.
    var all: [ManagedSource] { state.withLock { s in s.order.compactMap { s.sources[$0] } } }

    /// The number of sources.
    var count: Int { state.withLock { $0.order.count } }

    /// Adds `source`; false when its id is taken.
    func insert(_ source: ManagedSource) -> Bool {
        state.withLock { s in
            guard s.sources[source.id] == nil else { return false }
            s.sources[source.id] = source
            s.order.append(source.id)
            return true
        }
    }

    /// Removes and returns the source `id`.
    func remove(_ id: String) -> ManagedSource? {
        state.withLock { s in
            s.order.removeAll { $0 == id }
            return s.sources.removeValue(forKey: id)
        }
    }

    /// Removes every source (the server is stopping).
    func removeAll() -> [ManagedSource] {
        state.withLock { s in
            defer { s = State() }
            return s.order.compactMap { s.sources[$0] }
        }
    }
}
