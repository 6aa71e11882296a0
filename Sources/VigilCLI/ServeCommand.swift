// `vigil serve`: the HTTP service (Server target; docs/api.md, docs/deploy.md). The command is thin: it reads the
// flags into a `VigilServerConfiguration`, starts listening (so /health answers while the model loads), loads the
// model, hands it to the server — which resumes the sources and jobs of its state folder and adds the `--source`
// ones — and runs until SIGINT or SIGTERM, then stops cleanly (exit 130, the convention for both signals).

import Foundation
import HTTPServer
import Server
import SmolVLM
import Streaming
import VigilCore

struct ServeCommand: VigilCommand {
    static let configuration = CommandConfiguration(
        name: "serve",
        abstract: "Serve live sources, questions, captioning jobs and alerts over HTTP (OpenAI-compatible).",
        discussion: """
            Listens on --host:--port (loopback by default) with the API of docs/api.md: GET /health, /metrics, \
            /v1/models (the model plus stream:<source> per live source), POST /v1/chat/completions (questions on \
            a source or about a file), /v1/sources (add, list, inspect, remove; events over SSE; captions; \
            alerts with signed webhooks), /v1/jobs (batch captioning), and a web page at /. Sources, alerts and \
            jobs are kept in --state-dir and resumed when the server starts again. The settings below --pipeline \
            are the defaults of every source (a source's own preset and options apply on top). With --api-key \
            every request but /health and the page needs 'Authorization: Bearer KEY'. Binding a non-loopback \
            address without a key prints a warning. SIGINT or SIGTERM stops it (exit 130).
            """,
        arguments: [
            .option("--host", value: "ADDR", help: "Address to listen on.", default: "127.0.0.1"),
            .option("--port", value: "N", help: "TCP port (0 = any free port; the chosen one is printed).", default: "8080"),
            .option("--api-key", value: "KEY", help: "Require 'Authorization: Bearer KEY' (also $VIGIL_API_KEY)."),
            .option("--api-key-file", value: "FILE", help: "Read the key from FILE (its first line)."),
            .option(
                "--source", value: "NAME=URL", help: "A live source to run (repeatable); kept in the state folder.",
                repeatable: true),
            .option(
                "--state-dir", value: "DIR", help: "Where sources, alerts, session memory and jobs are kept.",
                default: "$XDG_STATE_HOME/vigil, else ~/.local/state/vigil"),
            .option(
                "--allow-dir", value: "DIR",
                help: "A folder whose files API requests may use (file sources, questions, jobs); repeatable.",
                repeatable: true),
            .option("--web-root", value: "DIR", help: "The web page's files.", default: "web/ beside vigil or here"),
            .option("--max-sources", value: "N", help: "Live sources at most.", default: "16"),
            .option(
                "--max-queued-questions", value: "N",
                help: "Questions waiting per source before 429 with Retry-After.", default: "4"),
            .option("--max-streams", value: "N", help: "Open SSE streams and streamed answers at most.", default: "256"),
            .option("--max-body", value: "BYTES", help: "Largest request body.", default: "1048576"),
            .option("--idle-timeout", value: "S", help: "Seconds before an idle connection is closed.", default: "60"),
            .option("--http-threads", value: "N", help: "Network threads (they never run model work).", default: "2"),
        ] + ModelOptions.specs + ModelArguments.randomWeightsSpecs
            + ModelArguments.computeSpecs(defaultPrecision: .auto) + Self.sessionSpecs,
        examples: [
            "vigil serve --source cam1=rtsp://camera.local/stream --model HuggingFaceTB/SmolVLM2-256M-Video-Instruct",
            "vigil serve --host 0.0.0.0 --api-key-file /etc/vigil/key --allow-dir /srv/videos --pipeline low-power",
            "curl -N localhost:8080/v1/sources/cam1/events",
        ])

    /// `--pipeline`, `--realtime` and every session setting, as defaults for all sources.
    static let sessionSpecs: [ArgumentSpec] = SessionArguments.specs.filter { $0.name != "--name" }

    var http: HTTPServerConfiguration
    var stateDirectory: URL
    var allowedDirectories: [URL]
    var webRoot: URL?
    var sources: [(id: String, url: String)]
    var maxSources: Int
    var maxQueuedQuestions: Int
    var model: ModelOptions
    var preset: ModelPreset?
    var precision: Precision
    var threads: Int
    var arguments: ParsedArguments

    init(_ a: ParsedArguments) throws {
        var http = HTTPServerConfiguration()
        http.host = a.value("--host") ?? "127.0.0.1"
        http.port = UInt16(try a.int("--port", default: 8080, in: 0...65535))
        http.maxStreams = try a.int("--max-streams", default: 256, in: 1...100_000)
        http.maxRequestBodyBytes = try a.int("--max-body", default: 1 << 20, in: 1024...(1 << 30))
        http.idleTimeout = .seconds(try a.int("--idle-timeout", default: 60, in: 1...86_400))
        http.threadPoolSize = try a.int("--http-threads", default: 2, in: 1...64)
        http.publicPaths = ["/health*", "/", "/ui/*"]
        if a.value("--api-key") != nil && a.value("--api-key-file") != nil {
            throw ValidationError("give either '--api-key' or '--api-key-file', not both")
        }
        self.http = http
        let environment = ProcessInfo.processInfo.environment
        if let dir = a.value("--state-dir") {
            stateDirectory = URL(fileURLWithPath: dir)
        } else if let xdg = environment["XDG_STATE_HOME"], !xdg.isEmpty {
            stateDirectory = URL(fileURLWithPath: xdg).appendingPathComponent("vigil")
        } else {
            stateDirectory = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".local/state/vigil")
        }
        allowedDirectories = a.values("--allow-dir").map { URL(fileURLWithPath: $0) }
        webRoot = a.value("--web-root").map { URL(fileURLWithPath: $0) }
        var sources: [(id: String, url: String)] = []
        for text in a.values("--source") {
            guard let eq = text.firstIndex(of: "="), eq != text.startIndex, text.index(after: eq) != text.endIndex else {
                throw ValidationError("--source '\(text)': write NAME=URL (cam1=rtsp://camera.local/stream)")
            }
            let id = String(text[..<eq])
            guard VigilServer.isValidSourceName(id) else {
                throw ValidationError(
                    "--source '\(text)': the name may hold 1 to 64 letters, digits, '-', '_' or '.'")
            }
            guard !sources.contains(where: { $0.id == id }) else {
                throw ValidationError("--source: the name '\(id)' is given twice")
            }
            sources.append((id, String(text[text.index(after: eq)...])))
        }
        self.sources = sources
        maxSources = try a.int("--max-sources", default: 16, in: 1...1024)
        maxQueuedQuestions = try a.int("--max-queued-questions", default: 4, in: 1...1024)
        model = try ModelOptions(a)
        preset = try ModelArguments.preset(a)
        precision = try a.choice("--precision", default: Precision.auto)
        threads = try a.int("--threads", default: 2, in: 1...256)
        arguments = a
        _ = try SessionArguments.configuration(a)  // reject bad values before loading the model
    }

    func run() async throws {
        var http = self.http
        http.apiKey = try apiKey()
        if http.apiKey == nil && !Self.isLoopback(http.host) {
            Log.warning(
                "listening on \(http.host) without an API key: anyone who can reach this port can use the server "
                    + "(give --api-key-file FILE, or bind 127.0.0.1 behind a proxy)")
        }
        var configuration = VigilServerConfiguration(stateDirectory: stateDirectory)
        configuration.http = http
        configuration.allowedDirectories = allowedDirectories
        configuration.webRoot = webRoot
        configuration.sessionDefaults = try SessionArguments.configuration(arguments)
        configuration.maxSources = maxSources
        configuration.maxQueuedQuestions = maxQueuedQuestions
        configuration.scheduler = ComputeScheduler.shared(threads: threads)
        if configuration.webRoot == nil && WebRoot.locate() == nil {
            Log.warning("the web page's files were not found (web/); / answers 404 until --web-root DIR is given")
        }
        let server = try VigilServer(configuration: configuration)
        try server.start()
        Console.errLine("vigil serve: listening on http://\(Self.hostForURL(http.host)):\(server.port)")
        Interruption.onInterrupt { Task { await server.stop() } }
        let vlm: VisionLanguageModel
        do {
            vlm = try await ModelArguments.loadVision(
                options: preset == nil ? model : nil, preset: preset, precision: precision, purpose: "vigil serve")
        } catch {
            await server.stop()
            throw error
        }
        if Interruption.isRequested {
            await server.stop()
            throw ExitRequest(.interrupted)
        }
        await server.attach(model: vlm, sources: sources)
        Console.errLine(
            "vigil serve: ready (\(vlm.name), \(server.sourceIDs.count) sources, state in \(stateDirectory.path))")
        await server.waitUntilStopped()
        throw ExitRequest(.interrupted)
    }

    /// The key from `--api-key`, `--api-key-file` or $VIGIL_API_KEY.
    private func apiKey() throws -> String? {
        if let key = arguments.value("--api-key") { return try Self.checked(key, from: "--api-key") }
        if let file = arguments.value("--api-key-file") {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ServeArgumentError("--api-key-file \(file): cannot be read; check the path and its permissions")
            }
            let line = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            return try Self.checked(line, from: "--api-key-file \(file)")
        }
        if let key = ProcessInfo.processInfo.environment["VIGIL_API_KEY"], !key.isEmpty {
            return try Self.checked(key, from: "$VIGIL_API_KEY")
        }
        return nil
    }

    private static func checked(_ key: String, from origin: String) throws -> String {
        let key = key.trimmingCharacters(in: .whitespaces)
        guard key.count >= 16, key.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw ServeArgumentError(
                "\(origin): the key must be at least 16 printable characters without spaces (e.g. `openssl rand "
                    + "-hex 24`)")
        }
        return key
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    private static func hostForURL(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }
}

/// A bad serve setting found when running (exit 1, one line naming the flag).
struct ServeArgumentError: UserFacingError {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
