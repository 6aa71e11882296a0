// `vigil serve`: Vigil as a service. A thin layer over the library: HTTPServer moves the bytes and runs handlers on
// Swift concurrency; each live source is a Streaming `LiveSession` (all of them on the one ComputeScheduler, so frame
// encoding of every source comes before answers, and answers before captioning); captioning jobs are Streaming
// `CaptionJob`s with Memory's journal; alerts are the sessions' standing questions, delivered as SSE events and
// signed webhooks. No handler computes with the model: they hand work to the sessions and jobs and await them.
//
//   let server = try VigilServer(configuration: VigilServerConfiguration(stateDirectory: dir))
//   try server.start()                     // listening: /health answers, /health/ready is 503
//   await server.attach(model: model)      // ready: sources and jobs of the state folder resumed
//   await server.waitUntilStopped()        // `await server.stop()` from a signal handler
//
// The routes are in VigilServer+*.swift (docs/api.md lists them); the state folder is described in StateStore.swift.

import Foundation
import HTTPServer
import Memory
import SessionStore
import SmolVLM
import Streaming
import Synchronization
import VigilCore
import VigilCrypto

/// The HTTP service over live sources, questions, captioning jobs and alerts.
public final class VigilServer: Sendable {
    /// The settings it was made with.
    public let configuration: VigilServerConfiguration
    let service: Service
    let http: HTTPServer

    /// A server with `configuration`; throws when the state folder or an allowed folder cannot be used.
    public init(configuration: VigilServerConfiguration) throws(ServerError) {
        self.configuration = configuration
        service = try Service(configuration: configuration)
        var router = HTTPRouter()
        service.addRoutes(to: &router)
        http = HTTPServer(configuration: configuration.http, router: router)
        let http = self.http
        service.streamCount.withLock { $0 = { http.activeStreamCount } }
    }

    /// Listens (every route answers; those that need the model give 503 `not_ready` until `attach`). Throws when the
    /// address cannot be used or the registry cannot be read.
    public func start() throws(ServerError) {
        try service.loadRegistry()
        do throws(HTTPServerError) {
            try http.start()
        } catch {
            throw ServerError(error.description)
        }
        service.jobs.restore()
    }

    /// Hands over the loaded model: the sources of the registry (and `sources`, given on the command line, which
    /// are added or updated) start, unfinished jobs resume, and the server reports ready.
    public func attach(model: VisionLanguageModel, sources: [(id: String, url: String)] = []) async {
        await service.attach(model: model, commandLineSources: sources)
    }

    /// The port it listens on (the chosen one when configured with 0).
    public var port: UInt16 { http.port }

    /// Whether the model is loaded and the saved sources have been resumed.
    public var isReady: Bool { service.ready.load(ordering: .acquiring) }

    /// Streamed responses open now (SSE subscribers and streamed answers).
    public var activeStreamCount: Int { http.activeStreamCount }

    /// The ids of the sources, in the order they were added.
    public var sourceIDs: [String] { service.registry.all.map(\.id) }

    /// Whether `name` may name a source: 1 to 64 letters, digits, `-`, `_` or `.`, starting with a letter or digit.
    public static func isValidSourceName(_ name: String) -> Bool { Service.isValidSourceID(name) }

    /// The session of source `id` (tests and embedding programs).
    public func session(_ id: String) -> LiveSession? { service.registry.source(id)?.session }

    /// Stops: HTTP first (open streams end), then webhook retries, captioning jobs (they stop at their next clip;
    /// their journals stay for the next start) and every session. The registry stays on disk. Idempotent.
    public func stop() async {
        http.stop()
        await service.stop()
    }

    /// Returns once `stop` has run.
    public func waitUntilStopped() async {
        await http.waitUntilStopped()
        await service.waitUntilStopped()
    }
}

/// Everything the handlers reach.
final class Service: Sendable {
    let configuration: VigilServerConfiguration
    let store: StateStore
    let paths: PathPolicy
    let registry = SourceRegistry()
    let metrics = ServerMetrics()
    let jobs: JobManager
    let webhooks: WebhookSender
    let files: FileQuestions
    let scheduler: ComputeScheduler
    let webRoot: URL?
    let ready = Atomic<Bool>(false)
    let startedAt = Int(Date().timeIntervalSince1970)
    let modelBox = Mutex<VisionLanguageModel?>(nil)
    let streamCount = Mutex<@Sendable () -> Int>({ 0 })
    /// Serialises writes of the registry file (each write is a snapshot taken under this lock).
    private let registryWrite = Mutex<Void>(())
    /// Specs read from the registry, started by `attach`.
    private let saved = Mutex<[SourceSpec]>([])
    /// Specs that could not be started at the last start (kept in the registry, not running).
    private let inactive = Mutex<[SourceSpec]>([])
    /// Media time of the last webhook sent per alert (debounce).
    private let lastAlert = Mutex<[String: Double]>([:])
    private let stopState = Mutex<(stopping: Bool, finished: Bool, waiters: [CheckedContinuation<Void, Never>])>(
        (false, false, []))

    init(configuration: VigilServerConfiguration) throws(ServerError) {
        self.configuration = configuration
        store = try StateStore(root: configuration.stateDirectory)
        paths = try PathPolicy(directories: configuration.allowedDirectories)
        scheduler = configuration.scheduler ?? .shared()
        jobs = JobManager(store: store, maxConcurrent: configuration.maxConcurrentJobs, scheduler: scheduler)
        webhooks = WebhookSender(settings: configuration.webhooks, metrics: metrics)
        files = FileQuestions(
            limit: configuration.maxFileQuestions, defaults: configuration.sessionDefaults, scheduler: scheduler)
        webRoot = configuration.webRoot ?? WebRoot.locate()
        metrics.registry.onCollect { [weak self] in
            guard let self else { return }
            self.metrics.collect(
                sources: self.registry.all, openStreams: self.streamCount.withLock { $0 }(),
                jobStates: self.jobs.stateCounts)
        }
    }

    /// The model, or 503 `not_ready`.
    func requireModel() throws(HTTPError) -> VisionLanguageModel {
        guard ready.load(ordering: .acquiring), let model = modelBox.withLock({ $0 }) else { throw APIError.notReady }
        return model
    }

    /// The source `id`, or 404.
    func requireSource(_ id: String) throws(HTTPError) -> ManagedSource {
        guard let source = registry.source(id) else { throw APIError.unknownSource(id) }
        return source
    }

    // MARK: - Start and stop

    func loadRegistry() throws(ServerError) {
        let file = try store.loadRegistry()
        saved.withLock { $0 = file.sources }
    }

    func attach(model: VisionLanguageModel, commandLineSources: [(id: String, url: String)]) async {
        modelBox.withLock { $0 = model }
        var specs = saved.withLock { $0 }
        for (id, url) in commandLineSources {
            if let i = specs.firstIndex(where: { $0.id == id }) {
                if specs[i].url != url {
                    Log.info("source \(id): URL changed on the command line")
                    specs[i].url = url
                }
                specs[i].trusted = true
            } else {
                specs.append(
                    SourceSpec(
                        id: id, url: url, pipeline: nil, options: [:], realtime: nil, createdAt: nowText(),
                        trusted: true, alerts: []))
            }
        }
        for spec in specs {
            do throws(HTTPError) {
                _ = try startSource(spec, model: model, persist: false)
            } catch {
                Log.warning("source \(spec.id) (\(ManagedSource.redacted(spec.url))) not started: \(error.message)")
                inactive.withLock { $0.append(spec) }
            }
        }
        persistRegistry()
        jobs.start(model: model)
        metrics.modelLoaded.set(1)
        ready.store(true, ordering: .releasing)
    }

    func stop() async {
        // Under the registry's write lock: no write that starts later sees the sources being shut down.
        let first = registryWrite.withLock { _ in
            stopState.withLock { state -> Bool in
                defer { state.stopping = true }
                return !state.stopping
            }
        }
        guard first else { return }
        ready.store(false, ordering: .releasing)
        webhooks.stop()
        await jobs.stop()
        await withTaskGroup(of: Void.self) { group in
            for source in registry.removeAll() { group.addTask { await source.shutDown() } }
        }
        streamCount.withLock { $0 = { 0 } }
        let waiters = stopState.withLock { state in
            state.finished = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func waitUntilStopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = stopState.withLock { state -> Bool in
                if state.finished { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    // MARK: - Sources

    /// Makes, registers and starts the source of `spec` (its alerts registered and its events watched before it
    /// starts). Throws 400 for bad settings, 409 when the id is taken or the server is full.
    func startSource(_ spec: SourceSpec, model: VisionLanguageModel, persist: Bool = true) throws(HTTPError)
        -> ManagedSource
    {
        guard registry.source(spec.id) == nil else {
            throw APIError.conflict("a source '\(spec.id)' exists already; DELETE it first or choose another name")
        }
        guard registry.count < configuration.maxSources else {
            throw APIError.conflict("this server runs at most \(configuration.maxSources) sources; remove one first")
        }
        if !spec.trusted, spec.url.hasPrefix("/"), !paths.allows(spec.url) {
            // A file source kept from an earlier run must still lie in an allowed folder.
            throw APIError.pathNotAllowed("source '\(spec.id)': its file is outside the folders this server allows")
        }
        let settings = try sessionConfiguration(for: spec, model: model)
        let session: LiveSession
        do {
            session = try LiveSession(model: model, source: spec.url, configuration: settings, scheduler: scheduler)
        } catch {
            throw .badRequest("source '\(spec.id)': \((error as? any UserFacingError)?.description ?? "\(error)")")
        }
        let source = ManagedSource(spec: spec, session: session, maxQueuedQuestions: configuration.maxQueuedQuestions)
        guard registry.insert(source) else {
            throw APIError.conflict("a source '\(spec.id)' exists already; DELETE it first or choose another name")
        }
        watch(source)
        for alert in spec.alerts {
            session.watchFor(alert.question, every: alert.every, id: alert.id, cooldown: alert.cooldown)
        }
        session.start()
        if persist { persistRegistry() }
        return source
    }

    /// Removes source `id`: its session stops and its saved state goes. False when there is none.
    func removeSource(_ id: String) async -> Bool {
        guard let source = registry.remove(id) else { return false }
        persistRegistry()
        await source.shutDown()
        metrics.forget(source: id, tiers: BlockKind.allCases.map(\.rawValue))
        store.remove(store.sourceDirectory(id))
        try? SessionStore.remove(name: id, stateDirectory: store.root.path)
        return true
    }

    /// Writes the registry: every running source's entry plus those that could not start. Not once the server is
    /// stopping (its sources are being shut down, not removed).
    func persistRegistry() {
        registryWrite.withLock { _ in
            guard !stopState.withLock({ $0.stopping }) else { return }
            let running = registry.all.map(\.spec)
            let ids = Set(running.map(\.id))
            let kept = inactive.withLock { $0 }.filter { !ids.contains($0.id) }
            do {
                try store.save(RegistryFile(version: 1, sources: running + kept))
            } catch {
                Log.error("cannot save the source registry: \(error)")
            }
        }
    }

    /// Counts events and turns alert events into webhooks (debounced by each alert's cooldown).
    private func watch(_ source: ManagedSource) {
        let events = source.session.events.subscribe()
        let task = Task { [weak self, weak source] in
            for await numbered in events {
                guard let self, let source else { return }
                switch numbered.event {
                case .status(let status) where status.session != nil:
                    source.requestStandingRefresh()
                case .segment:
                    self.metrics.segments.increment()
                case .alert(let alert):
                    self.metrics.alerts.increment(labels: ["source": source.id])
                    source.noteAlert(alert.id, at: alert.at)
                    guard let spec = source.spec.alerts.first(where: { $0.id == alert.id }) else { continue }
                    let due = self.lastAlert.withLock { last -> Bool in
                        if let previous = last[spec.id], alert.at < previous + spec.cooldown - 1e-9 { return false }
                        last[spec.id] = alert.at
                        return true
                    }
                    if due { self.webhooks.deliver(alert, alert: spec, source: source.id, eventID: numbered.id) }
                default:
                    break
                }
            }
        }
        source.own(task)
    }

    /// The session settings of `spec`: the server's defaults, then the preset, then the options; refused (400) when
    /// a name or value is bad, when reserved memory would exceed the server's defaults (API sources only), or when
    /// the combination does not fit the model.
    func sessionConfiguration(for spec: SourceSpec, model: VisionLanguageModel) throws(HTTPError) -> SessionConfiguration {
        let defaults = configuration.sessionDefaults
        var c = defaults
        if let name = spec.pipeline {
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }),
                !name.hasPrefix(".")
            else {
                throw .badRequest("pipeline '\(name)': give a preset name (GET /v1/pipelines lists them), not a path")
            }
            do throws(PipelineError) {
                try Pipeline.load(name).apply(to: &c)
            } catch {
                if error.line == nil { throw .badRequest(error.message.isEmpty ? "no pipeline '\(name)'" : "pipeline '\(name)': \(error.message)") }
                Log.warning(error.description)
                throw .badRequest("pipeline '\(name)' is broken on this server (its operator can see why in the log)")
            }
        }
        for (key, value) in spec.options.sorted(by: { $0.key < $1.key }) {
            guard let option = SessionConfiguration.option(named: key) else {
                throw .badRequest(
                    "unknown setting '\(key)'; the settings are "
                        + SessionConfiguration.options.map(\.key).joined(separator: ", "))
            }
            do throws(SettingError) {
                try option.apply(value, to: &c)
            } catch {
                throw .badRequest(error.description)
            }
        }
        if !spec.trusted {
            if c.retrievalMiB > defaults.retrievalMiB {
                throw .badRequest(
                    "retrieval-mb \(c.retrievalMiB) is more than this server allows a source (\(defaults.retrievalMiB))")
            }
            if c.bankSeconds > defaults.bankSeconds {
                throw .badRequest(
                    "bank-seconds \(c.bankSeconds) is more than this server allows a source (\(defaults.bankSeconds))")
            }
        }
        if let realtime = spec.realtime { c.realtime = realtime }
        c.sourceName = spec.id
        // The source's memory is the persistent session `<state-dir>/sessions/<id>` (`vigil sessions --state-dir`).
        c.persistentSession = PersistentSession(name: spec.id, stateDirectory: store.root.path)
        let problems = c.problems(tokensPerFrame: model.tokensPerFrame)
        guard problems.isEmpty else { throw .badRequest("bad settings: " + problems.joined(separator: "; ")) }
        return c
    }

    /// A new id with `prefix` and 12 random hex digits.
    static func makeID(_ prefix: String) -> String { prefix + SecureRandom.hexToken(byteCount: 6) }

    /// Whether `id` may name a source: 1–64 of letters, digits, `-`, `_`, `.`, starting with a letter or digit.
    static func isValidSourceID(_ id: String) -> Bool {
        guard let first = id.unicodeScalars.first, id.unicodeScalars.count <= 64 else { return false }
        func allowed(_ c: Unicode.Scalar) -> Bool {
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9")
        }
        return allowed(first) && id.unicodeScalars.allSatisfy { allowed($0) || $0 == "-" || $0 == "_" || $0 == "." }
    }
}
