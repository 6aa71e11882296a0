// What the server tests share: the tiny fixture model (random weights, the real tokenizer), a folder of synthetic
// clips the servers may read (the committed samples plus a long, small clip made with ffmpeg), and a server on a
// free loopback port with a fresh state folder and settings that keep the tiny model fast.

import Foundation
import HTTPServer
import Server
import SmolVLM
import Streaming
import TestSupport
import Testing

enum ServerFixtures {
    /// The tiny SmolVLM checkpoint with the real tokenizer (loaded once).
    static let model: VisionLanguageModel = {
        // The fixture is committed; failing to load it is a broken checkout.
        try! VisionLanguageModel.load(folder: Fixtures.url("smolvlm/tiny-realtok"), precision: .fp32)
    }()

    /// A folder with the sample clips and `long.mkv` (60 s of a small moving box at 5 fps), made once per run.
    static let media: URL = {
        let folder = MediaFixtures.directory.appendingPathComponent("server-media")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in ["static_moving.mp4", "scene_cut.mp4"] {
            let target = folder.appendingPathComponent(name)
            if !FileManager.default.fileExists(atPath: target.path) {
                try? FileManager.default.copyItem(
                    at: Fixtures.repositoryRoot.appendingPathComponent("samples/\(name)"), to: target)
            }
        }
        let long = folder.appendingPathComponent("long.mkv")
        if !FileManager.default.fileExists(atPath: long.path) {
            try? MediaFixtures.ffmpeg([
                "-f", "lavfi", "-i", "color=c=0x406080:s=64x64:r=5:d=60",
                "-vf", "drawbox=x='mod(t*6,56)':y=28:w=8:h=8:color=yellow:t=fill", "-c:v", "ffv1", long.path,
            ])
        }
        return folder
    }()

    /// The path of clip `name` in `media`.
    static func clip(_ name: String) -> String { media.appendingPathComponent(name).path }

    /// Session settings that keep the tiny model quick: small reserves; captions off (tests that need them turn them
    /// on), with short clips and captions.
    static func sessionDefaults() -> SessionConfiguration {
        var c = SessionConfiguration()
        c.captions = false
        c.retrievalMiB = 4
        c.pruner.keep = 3
        c.statusInterval = 0.5
        c.maxAnswerTokens = 8
        c.memory.clipSeconds = 2
        c.memory.segmentSeconds = 4
        c.memory.clipTokens = 12
        c.memory.segmentTokens = 12
        c.memory.summaryTokens = 12
        c.bankSeconds = 120
        return c
    }

    /// A fresh state folder.
    static func stateDirectory() throws -> URL { try MediaFixtures.scratchDirectory("server-state") }

    /// A server configuration on a free port with `state`, the media folder allowed, the repository's web page,
    /// short heartbeats and quick webhook retries.
    static func configuration(state: URL) -> VigilServerConfiguration {
        var c = VigilServerConfiguration(stateDirectory: state)
        c.http.port = 0
        c.http.heartbeatInterval = .milliseconds(300)
        c.allowedDirectories = [media]
        c.webRoot = Fixtures.repositoryRoot.appendingPathComponent("web")
        c.sessionDefaults = sessionDefaults()
        c.webhooks.initialDelay = 0.2
        c.webhooks.maxDelay = 1
        c.webhooks.attempts = 30
        return c
    }

    /// Starts a server (listening and attached to the model) with `configure` applied.
    static func start(
        state: URL? = nil, sources: [(id: String, url: String)] = [],
        _ configure: (inout VigilServerConfiguration) -> Void = { _ in }
    ) async throws -> VigilServer {
        var c = configuration(state: try state ?? stateDirectory())
        configure(&c)
        let server = try VigilServer(configuration: c)
        try server.start()
        await server.attach(model: model, sources: sources)
        return server
    }
}

extension VigilServer {
    /// `http://127.0.0.1:<port>`.
    var base: String { "http://127.0.0.1:\(port)" }
}

/// Polls `condition` every 20 ms until it holds or `livenessBound` seconds pass; whether it held.
func eventually(_ condition: () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(livenessBound)
    while Date() < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}
