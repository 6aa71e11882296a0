// A real RTSP server on 127.0.0.1 for ingest tests: scripts/rtsp-test-server.py (GStreamer's RTSP server, run with
// Debian's /usr/bin/python3 and python3-gi) on a free port. Tests kill, restart, freeze (SIGSTOP) and thaw it.
// Use it only inside `TestSerialLock.run`.

import Foundation
import Glibc

/// A GStreamer RTSP server process serving rtsp://127.0.0.1:PORT/test.
public final class RTSPTestServer: @unchecked Sendable {
    /// What the server streams.
    public enum Content: Sendable {
        /// An endless live test pattern (320×240 at 30 fps, H.264, a keyframe every second).
        case live
        /// The H.264 track of an MP4 file, once, then end of stream.
        case file(String)
    }

    /// The port it listens on.
    public let port: Int
    /// `rtsp://127.0.0.1:PORT/test`.
    public var url: String { "rtsp://127.0.0.1:\(port)/test" }
    private let content: Content
    private let auth: String?
    private let lock = NSLock()
    private var process: Process?
    private let logPath: String

    /// Starts a server on a free port; `auth` ("user:password") requires basic authentication.
    public init(_ content: Content = .live, auth: String? = nil) throws {
        self.content = content
        self.auth = auth
        port = try freeTCPPort()
        logPath = MediaFixtures.directory.appendingPathComponent("rtsp-server-\(port).log").path
        try start()
    }

    deinit { stop() }

    /// Starts (or restarts) the server on the same port and waits until it accepts connections.
    public func start() throws {
        let script = MediaFixtures.repositoryRoot.appendingPathComponent("scripts/rtsp-test-server.py").path
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw FixtureError(
                "\(python) is missing: the RTSP tests need Debian's python3 and python3-gi (scripts/setup)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        var arguments = [script, "--port", String(port)]
        switch content {
        case .live: arguments.append("--live")
        case .file(let path): arguments += ["--file", path]
        }
        if let auth { arguments += ["--auth", auth] }
        process.arguments = arguments
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = log ?? FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        lock.withLock { self.process = process }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if !process.isRunning {
                let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                throw FixtureError("the RTSP test server exited (\(process.terminationStatus)): \(text)")
            }
            if canConnect(port: port) { return }
            usleep(50_000)
        }
        throw FixtureError("the RTSP test server did not listen on port \(port) within 20 s")
    }

    /// Kills the server at once (SIGKILL: the socket closes, as when a camera dies).
    public func kill() { signal(SIGKILL, wait: true) }

    /// Freezes the server (SIGSTOP): connections stay open but nothing is sent, as with a hung camera.
    public func freeze() { signal(SIGSTOP, wait: false) }

    /// Resumes a frozen server (SIGCONT).
    public func thaw() { signal(SIGCONT, wait: false) }

    /// Stops the server if it runs.
    public func stop() {
        signal(SIGCONT, wait: false)
        signal(SIGKILL, wait: true)
    }

    private func signal(_ signo: Int32, wait: Bool) {
        guard let process = lock.withLock({ self.process }), process.isRunning else { return }
        Glibc.kill(process.processIdentifier, signo)
        if wait {
            process.waitUntilExit()
            lock.withLock { self.process = nil }
        }
    }
}

/// A TCP port on 127.0.0.1 that is free right now (bound to port 0, read back, released).
public func freeTCPPort() throws -> Int {
    let (fd, port) = try boundSocket(listening: false)
    close(fd)
    return port
}

/// A TCP listener on 127.0.0.1 that accepts connections into its backlog and never answers: a server that hangs.
public final class SilentTCPListener: @unchecked Sendable {
    /// Its port.
    public let port: Int
    private let fd: Int32

    public init() throws {
        (fd, port) = try boundSocket(listening: true)
    }

    deinit { close(fd) }
}

/// A TCP socket bound to 127.0.0.1 on a port the kernel picks (listening if asked), and that port.
private func boundSocket(listening: Bool) throws -> (Int32, Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw FixtureError("socket() failed") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(fd, raw, length) == 0 && (!listening || listen(fd, 16) == 0) && getsockname(fd, raw, &length) == 0
        }
    }
    guard ok else {
        close(fd)
        throw FixtureError("cannot bind a TCP socket on 127.0.0.1")
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// Whether a TCP connection to 127.0.0.1:`port` succeeds now.
func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    return result == 0
}
