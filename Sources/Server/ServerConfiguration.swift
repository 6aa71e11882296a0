// The settings of `vigil serve`: where it listens and its HTTP limits (HTTPServer's configuration, with defaults
// for this API), where it keeps its state, which folders file inputs may come from, the settings every source starts
// from, and the caps that keep one client from taking the machine (sources, queued questions, file questions,
// captioning jobs). The CLI fills it from flags; tests fill it directly.

import Foundation
import HTTPServer
import Streaming

/// Settings of a `VigilServer`.
public struct VigilServerConfiguration: Sendable {
    /// Address, port, limits, API key (HTTPServer). Defaults differ from HTTPServer's where this API needs it:
    /// port 8080, 256 streams (SSE subscribers and streamed answers), 1 MiB request bodies, the web page public.
    public var http: HTTPServerConfiguration
    /// Where the server keeps its registry (`sources.json`), each source's session state (`sources/<id>/`) and
    /// its captioning jobs (`jobs/<id>/`). Created (mode 0700) when missing.
    public var stateDirectory: URL
    /// Folders that file inputs (file sources, `video_url`/`image_url` parts, job inputs) must lie in; empty means
    /// no file input is accepted over the API. Sources given on the command line are not confined.
    public var allowedDirectories: [URL] = []
    /// The web page's files; nil: looked up with `WebRoot.locate()` (`$VIGIL_WEB`, `./web`, beside the executable).
    public var webRoot: URL?
    /// The settings every source starts from (a source's preset and options apply on top).
    public var sessionDefaults = SessionConfiguration()
    /// Live sources at most.
    public var maxSources = 16
    /// Questions waiting or being answered per source at most; more get 429 with `Retry-After`.
    public var maxQueuedQuestions = 4
    /// Questions about files answered at once at most (each runs a session over the file); more get 429.
    public var maxFileQuestions = 1
    /// Captioning jobs run at once (the others wait in order).
    public var maxConcurrentJobs = 1
    /// Seconds given in `Retry-After` when a queue is full.
    public var retryAfterSeconds = 2
    /// Webhook delivery of alerts: attempts and backoff.
    public var webhooks = WebhookSettings()
    /// Media seconds between two alerts of one standing question when the request gives no `cooldown_s`.
    public var defaultAlertCooldown: Double = 60
    /// The scheduler every session and job computes on; nil: the process's shared one.
    public var scheduler: ComputeScheduler?

    /// Settings with the documented defaults, keeping state in `stateDirectory`.
    public init(stateDirectory: URL) {
        self.stateDirectory = stateDirectory
        var http = HTTPServerConfiguration()
        http.port = 8080
        http.maxStreams = 256
        http.maxRequestBodyBytes = 1 << 20
        http.publicPaths = ["/health*", "/", "/ui/*"]
        self.http = http
    }
}

/// How alert webhooks are delivered: each POST is tried up to `attempts` times, waiting `initialDelay` seconds
/// after the first failure and twice as long after each further one (at most `maxDelay`, ±10 % jitter).
public struct WebhookSettings: Sendable {
    /// Tries per alert, the first included.
    public var attempts = 8
    /// Seconds before the second try.
    public var initialDelay: Double = 1
    /// Longest wait between tries, seconds.
    public var maxDelay: Double = 60
    /// Seconds a try may take (connect, send, answer).
    public var timeout: Double = 10

    /// The defaults.
    public init() {}

    /// Seconds to wait after failed try number `attempt` (1-based), before jitter.
    public func delay(after attempt: Int) -> Double {
        min(maxDelay, initialDelay * pow(2, Double(max(0, attempt - 1))))
    }
}
