// The clients the server tests talk through: curl (a real HTTP client, run as a process with its output in a file,
// awaited without blocking Swift's thread pool) and a raw TCP socket for requests curl will not send.

import Foundation
import Glibc
import Synchronization
import TestSupport

/// What curl got.
struct CurlResult {
    var exitCode: Int32
    var status: Int
    var headers: [String: String]
    var body: String

    /// The body as a JSON object.
    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] }

    /// `error.code` of a JSON error body.
    var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }

    /// `error.message` of a JSON error body.
    var errorMessage: String? { (json?["error"] as? [String: Any])?["message"] as? String }

    /// Header `name` (any case).
    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// curl runs.
enum Curl {
    /// `curl -s -S -i <arguments> <url>` to completion.
    static func run(_ url: String, _ arguments: [String] = []) async throws -> CurlResult {
        let process = try CurlProcess(arguments + [url])
        let exitCode = await process.wait()
        return parse(process.output(), exitCode: exitCode)
    }

    /// A JSON POST of `body` to `url`.
    static func post(_ url: String, json body: String, _ arguments: [String] = []) async throws -> CurlResult {
        try await run(url, ["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body] + arguments)
    }

    /// Splits `curl -i` output into the last status line, its headers and the body.
    static func parse(_ output: String, exitCode: Int32) -> CurlResult {
        var rest = Substring(output)
        var status = 0
        var headers: [String: String] = [:]
        while rest.hasPrefix("HTTP/") {
            guard let end = rest.range(of: "\r\n\r\n") else { break }
            let lines = rest[..<end.lowerBound].components(separatedBy: "\r\n")
            status = Int(lines[0].split(separator: " ").dropFirst().first ?? "") ?? 0
            headers = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] =
                    line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            rest = rest[end.upperBound...]
            if status != 100 { break }
        }
        return CurlResult(exitCode: exitCode, status: status, headers: headers, body: String(rest))
    }
}

/// A running curl whose output goes to a temporary file (read it while it runs, or once it is done).
final class CurlProcess: @unchecked Sendable {
    // @unchecked: `process` is configured before it runs; the termination state is in a Mutex.
    private let process = Process()
    private let outputFile: URL
    private final class Termination: Sendable {
        let state = Mutex<(exitCode: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))
    }

    private let termination = Termination()

    init(_ arguments: [String]) throws {
        outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("curl-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-S", "-i", "-N", "--max-time", "120", "--noproxy", "*"] + arguments
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { [termination] process in
            let waiters = termination.state.withLock { state in
                state.exitCode = process.terminationStatus
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume(returning: process.terminationStatus) }
        }
        try process.run()
    }

    deinit {
        if process.isRunning { process.terminate() }
        try? FileManager.default.removeItem(at: outputFile)
    }

    /// Everything curl wrote so far.
    func output() -> String {
        String(decoding: (try? Data(contentsOf: outputFile)) ?? Data(), as: UTF8.self)
    }

    /// Kills curl: the client hangs up.
    func kill() { Glibc.kill(process.processIdentifier, SIGKILL) }

    /// Waits for curl to end; its exit status.
    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            let done: Int32? = termination.state.withLock { state in
                if let code = state.exitCode { return code }
                state.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Waits (up to the liveness bound) until the output satisfies `condition`.
    func waitForOutput(_ condition: @escaping (String) -> Bool) async -> Bool {
        await eventually { condition(self.output()) }
    }
}

/// The `id:` values of the SSE events in `text`, in order.
func eventIDs(in text: String) -> [Int] {
    text.components(separatedBy: "\n").compactMap { line in
        line.hasPrefix("id: ") ? Int(line.dropFirst(4).trimmingCharacters(in: .whitespaces)) : nil
    }
}

/// The JSON objects of the `data:` lines of an SSE body (skipping `[DONE]`).
func dataObjects(in text: String) -> [[String: Any]] {
    text.components(separatedBy: "\n").compactMap { line in
        guard line.hasPrefix("data: ") else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any]
    }
}

/// A blocking TCP client on 127.0.0.1 for requests curl will not send, run off Swift's thread pool.
final class RawConnection: @unchecked Sendable {
    // @unchecked: the descriptor is used by one caller at a time.
    let descriptor: Int32

    init(port: UInt16) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: Int(livenessBound), tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
    }

    deinit { Glibc.close(descriptor) }

    /// Sends `bytes`.
    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Sends `text`.
    func send(_ text: String) { send(Array(text.utf8)) }

    /// Reads until the server closes the connection (or the receive timeout), off the thread pool.
    func readAll() async -> String {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var data = [UInt8]()
                var buffer = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = buffer.withUnsafeMutableBytes { recv(self.descriptor, $0.baseAddress, $0.count, 0) }
                    if n <= 0 { break }
                    data += buffer[..<n]
                }
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
    }
}
