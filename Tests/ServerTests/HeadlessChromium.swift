// Debian's Chromium, headless, driven over the DevTools protocol through a pipe (`--remote-debugging-pipe`: the
// browser reads commands from its fd 3 and writes answers to its fd 4, each a JSON object ended by NUL), so the tests
// need no WebSocket client. Calls block, so they run on a Dispatch queue, never on Swift's cooperative pool; every
// read is bounded by the liveness bound.

import Foundation
import Glibc
import TestSupport

/// A headless Chromium with one page.
final class HeadlessChromium: @unchecked Sendable {
    // @unchecked: used by one test at a time, every call on `queue`.

    /// Debian's binary.
    static let path = "/usr/bin/chromium"

    /// Whether the binary is installed.
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: path) }

    private let pid: pid_t
    private let commands: Int32
    private let answers: Int32
    private let queue = DispatchQueue(label: "vigil.tests.chromium")
    private var buffer: [UInt8] = []
    private var nextID = 0
    private var session: String?
    private let profile: URL

    /// Starts the browser with a fresh profile and opens a blank page.
    init() throws {
        profile = try MediaFixtures.scratchDirectory("chromium-profile")
        var toBrowser: [Int32] = [0, 0]
        var fromBrowser: [Int32] = [0, 0]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else { throw FixtureError("pipe failed: errno \(errno)") }
        for fd in toBrowser + fromBrowser { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // High duplicates, so that dup2 onto 3 and 4 never finds a source already there.
        let childIn = fcntl(toBrowser[0], F_DUPFD_CLOEXEC, 200)
        let childOut = fcntl(fromBrowser[1], F_DUPFD_CLOEXEC, 200)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, childIn, 3)
        posix_spawn_file_actions_adddup2(&actions, childOut, 4)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let arguments = [
            Self.path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--remote-debugging-pipe", "--window-size=1100,900",
            "--user-data-dir=" + profile.path, "about:blank",
        ]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, Self.path, &actions, nil, &argv, environ)
        for fd in [toBrowser[0], fromBrowser[1], childIn, childOut] { close(fd) }
        guard spawned == 0 else {
            close(toBrowser[1])
            close(fromBrowser[0])
            throw FixtureError("cannot start \(Self.path): error \(spawned)")
        }
        pid = child
        commands = toBrowser[1]
        answers = fromBrowser[0]
        signal(SIGPIPE, SIG_IGN)
    }

    deinit {
        Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(commands)
        close(answers)
        try? FileManager.default.removeItem(at: profile)
    }

    /// Opens a page and attaches to it (later commands go to it).
    func openPage(_ url: String) async throws {
        let target = try await call("Target.createTarget", ["url": "about:blank"], toPage: false)
        guard let targetID = target["targetId"] as? String else { throw FixtureError("no target: \(target)") }
        let attached = try await call("Target.attachToTarget", ["targetId": targetID, "flatten": true], toPage: false)
        session = attached["sessionId"] as? String
        _ = try await call("Page.navigate", ["url": url])
    }

    /// The value of the JavaScript `expression` in the page (JSON-compatible values only).
    func evaluate(_ expression: String) async throws -> Any? {
        let result = try await call("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        if let exception = result["exceptionDetails"] { throw FixtureError("script failed: \(exception)") }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// A PNG screenshot of the page.
    func screenshot() async throws -> Data {
        let result = try await call("Page.captureScreenshot", ["format": "png"])
        guard let text = result["data"] as? String, let data = Data(base64Encoded: text) else {
            throw FixtureError("no screenshot")
        }
        return data
    }

    /// Sends `method` and waits for its answer's `result`.
    func call(_ method: String, _ params: [String: Any], toPage: Bool = true) async throws -> [String: Any] {
        let page = toPage ? session : nil
        let body = try JSONSerialization.data(withJSONObject: params)
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    continuation.resume(returning: try self.exchange(method, body, page: page))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    private func exchange(_ method: String, _ params: Data, page: String?) throws -> [String: Any] {
        nextID += 1
        let id = nextID
        var message: [String: Any] = [
            "id": id, "method": method,
            "params": (try? JSONSerialization.jsonObject(with: params)) ?? [String: Any](),
        ]
        if let page { message["sessionId"] = page }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(commands, $0.baseAddress! + offset, $0.count - offset) }
            guard n > 0 else { throw FixtureError("the browser closed its command pipe") }
            offset += n
        }
        let deadline = Date().addingTimeInterval(livenessBound)
        while true {
            while let end = buffer.firstIndex(of: 0) {
                let line = Array(buffer[..<end])
                buffer.removeSubrange(...end)
                guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
                    object["id"] as? Int == id
                else { continue }
                if let error = object["error"] { throw FixtureError("\(method) failed: \(error)") }
                return object["result"] as? [String: Any] ?? [:]
            }
            guard Date() < deadline else { throw FixtureError("\(method): no answer from the browser") }
            var poller = pollfd(fd: answers, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 200) >= 0 else { continue }
            if poller.revents & Int16(POLLIN | POLLHUP) == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let n = chunk.withUnsafeMutableBytes { read(answers, $0.baseAddress!, $0.count) }
            guard n > 0 else { throw FixtureError("the browser closed its answer pipe") }
            buffer += chunk[..<n]
        }
    }
}
