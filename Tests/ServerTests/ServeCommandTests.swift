// `vigil serve` as a program: it prints where it listens, answers /health before the model is loaded, runs its
// `--source`s, keeps them in its state folder, warns when it listens beyond loopback without a key, stops cleanly on
// SIGTERM and SIGINT (exit 130), and refuses bad flags (64) and bad keys (1) with one line.

import Foundation
import Glibc
import TestSupport
import Testing

@Suite(.serialized, .holdingSerialLock) struct ServeCommandTests {
    static var vigil: String { Tmux.built("vigil") }

    /// A running `vigil serve`, its standard error in a file.
    final class Serve: @unchecked Sendable {
        let process = Process()
        let log: URL

        init(_ arguments: [String]) throws {
            log = try MediaFixtures.scratchDirectory("serve-cli").appendingPathComponent("stderr.txt")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: ServeCommandTests.vigil)
            process.arguments = ["serve"] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: log)
            process.standardInput = FileHandle.nullDevice
            try process.run()
        }

        deinit { if process.isRunning { process.terminate() } }

        var stderr: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        /// The port from the "listening on" line, once printed.
        func port() async -> Int? {
            var found: Int?
            _ = await eventually {
                guard let line = self.stderr.split(separator: "\n").first(where: { $0.contains("listening on http") }),
                    let port = line.split(separator: ":").last.flatMap({ Int($0) })
                else { return !self.process.isRunning }
                found = port
                return true
            }
            return found
        }

        /// Sends `signal` and waits for the exit status (off the thread pool).
        func stop(_ signal: Int32) async -> Int32 {
            kill(process.processIdentifier, signal)
            let process = self.process
            return await Task.detached {
                process.waitUntilExit()
                return process.terminationStatus
            }.value
        }
    }

    static func common(state: URL) -> [String] {
        [
            "--port", "0", "--model", Fixtures.url("smolvlm/tiny-realtok").path, "--state-dir", state.path,
            "--allow-dir", ServerFixtures.media.path, "--web-root", Fixtures.repositoryRoot.appendingPathComponent("web").path,
            "--retrieval-mb", "4", "--keep-tokens", "3", "--captions", "off", "--max-answer-tokens", "6",
        ]
    }

    @Test func servesItsSourcesAndStopsCleanlyOnSignals() async throws {
        let state = try ServerFixtures.stateDirectory()
        let serve = try Serve(Self.common(state: state) + ["--source", "cam1=" + ServerFixtures.clip("static_moving.mp4")])
        let port = try #require(await serve.port(), "\(serve.stderr)")
        let base = "http://127.0.0.1:\(port)"
        #expect(await eventually { (try? await Curl.run(base + "/health/ready"))?.status == 200 }, "\(serve.stderr)")
        let models = try await Curl.run(base + "/v1/models")
        #expect(models.body.contains(#""id":"stream:cam1""#))
        let answer = try await Curl.post(
            base + "/v1/chat/completions", json: #"{"model":"stream:cam1","messages":[{"role":"user","content":"Hi?"}]}"#)
        #expect(answer.status == 200)
        #expect(try await Curl.run(base + "/").body.contains("<title>Vigil</title>"))
        #expect(await serve.stop(SIGTERM) == 130)
        #expect(!serve.stderr.contains("warning"), "\(serve.stderr)")
        let registry = try String(contentsOf: state.appendingPathComponent("sources.json"), encoding: .utf8)
        #expect(registry.contains(#""id" : "cam1""#))

        // Again without --source: the saved source comes back; SIGINT stops it too.
        let again = try Serve(Self.common(state: state))
        let port2 = try #require(await again.port(), "\(again.stderr)")
        #expect(await eventually { (try? await Curl.run("http://127.0.0.1:\(port2)/health/ready"))?.status == 200 })
        let list = try await Curl.run("http://127.0.0.1:\(port2)/v1/sources")
        #expect(list.body.contains(#""id":"cam1""#))
        #expect(await again.stop(SIGINT) == 130)
    }

    @Test func warnsWithoutAKeyBeyondLoopbackAndRefusesBadFlags() async throws {
        let state = try ServerFixtures.stateDirectory()
        let open = try Serve(Self.common(state: state) + ["--host", "0.0.0.0"])
        _ = try #require(await open.port(), "\(open.stderr)")
        #expect(open.stderr.contains("warning: listening on 0.0.0.0 without an API key"))
        #expect(await open.stop(SIGTERM) == 130)

        func run(_ arguments: [String]) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.vigil)
            process.arguments = ["serve"] + arguments
            let result = try MediaFixtures.run(process)
            return (result.status, result.stderr)
        }
        let (badSource, sourceText) = try run(Self.common(state: state) + ["--source", "no-equals-sign"])
        #expect(badSource == 64 && sourceText.contains("NAME=URL"))
        let (both, bothText) = try run(["--api-key", "k", "--api-key-file", "/nonexistent"])
        #expect(both == 64 && bothText.contains("not both"))
        let (short, shortText) = try run(Self.common(state: state) + ["--api-key", "short"])
        #expect(short == 1 && shortText.contains("at least 16"))
        let (badDir, dirText) = try run(Self.common(state: state) + ["--allow-dir", "/nonexistent/folder"])
        #expect(badDir == 1 && dirText.contains("--allow-dir /nonexistent/folder"))
        let (help, _) = try run(["--help"])
        #expect(help == 0)
    }
}
