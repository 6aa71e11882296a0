// The official `openai` Python client against `vigil serve` with a tiny-model source: the model list offers the
// source as `stream:cam1`, a question is answered whole and streamed (with usage), the answer is the session's, and a
// wrong key is an AuthenticationError. The client is installed by scripts/setup into a virtual environment in
// ${VIGIL_CACHE:-~/.cache/vigil}/openai-venv; without it these tests are skipped, except under CI (CI=true), where a
// missing client fails. (The rule "tests never run Python" is waived here: the point is that the real client
// accepts what the server sends.)

import Foundation
import Server
import Streaming
import TestSupport
import Testing
import VigilCore

/// The virtual environment's Python with `openai` installed, when there is one.
let openAIPython: URL? = {
    let environment = ProcessInfo.processInfo.environment
    let cache =
        environment["VIGIL_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/vigil").path
    let python = URL(fileURLWithPath: cache).appendingPathComponent("openai-venv/bin/python3")
    return FileManager.default.isExecutableFile(atPath: python.path) ? python : nil
}()

@Suite(.serialized, .holdingSerialLock) struct OpenAIClientServerTests {
    static let enabled = openAIPython != nil || Fixtures.isCI

    /// Runs `script` with the venv's Python (argv[1] = base URL, argv[2] = key); its standard output lines.
    func runPython(_ script: String, baseURL: String, key: String) async throws -> [String] {
        guard let python = openAIPython else {
            Issue.record("the openai Python client is missing: run scripts/setup (it installs it into the cache)")
            return []
        }
        let directory = try MediaFixtures.scratchDirectory("openai")
        let scriptFile = directory.appendingPathComponent("client.py")
        try Data(script.utf8).write(to: scriptFile)
        let process = Process()
        process.executableURL = python
        process.arguments = [scriptFile.path, baseURL, key]
        var environment = ProcessInfo.processInfo.environment
        environment["NO_PROXY"] = "127.0.0.1"
        environment["no_proxy"] = "127.0.0.1"
        process.environment = environment
        let result = try await Task.detached { try MediaFixtures.run(process) }.value
        #expect(result.status == 0, "python failed: \(result.stderr)")
        return String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test(.enabled(if: enabled, "the openai Python client is not installed: run scripts/setup"))
    func theOfficialClientAsksASource() async throws {
        let key = "openai-client-test-key-0123"
        let server = try await ServerFixtures.start(sources: [("cam1", ServerFixtures.clip("static_moving.mp4"))]) {
            $0.http.apiKey = key
        }
        defer { Task { await server.stop() } }
        let session = try #require(server.session("cam1"))
        await session.waitUntilIdle()
        let answers = session.events.subscribe()
        let script = """
            import json, sys
            import openai
            client = openai.OpenAI(base_url=sys.argv[1], api_key=sys.argv[2], max_retries=0, timeout=120)
            print(json.dumps([m.id for m in client.models.list()]))
            r = client.chat.completions.create(
                model="stream:cam1", max_tokens=6,
                messages=[{"role": "user", "content": "What is moving?"}])
            print(json.dumps({"content": r.choices[0].message.content, "finish": r.choices[0].finish_reason,
                              "completion": r.usage.completion_tokens, "object": r.object, "model": r.model}))
            stream = client.chat.completions.create(
                model="stream:cam1", stream=True, stream_options={"include_usage": True}, max_completion_tokens=5,
                messages=[{"role": "user", "content": [{"type": "text", "text": "And now?"}]}])
            deltas, finish, usage = [], None, None
            for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    if choice.delta.content:
                        deltas.append(choice.delta.content)
                    if choice.finish_reason:
                        finish = choice.finish_reason
            print(json.dumps({"text": "".join(deltas), "finish": finish, "usage": usage}))
            try:
                openai.OpenAI(base_url=sys.argv[1], api_key="wrong", max_retries=0).models.list()
                print("no error")
            except openai.AuthenticationError as e:
                print(json.dumps({"status": e.status_code}))
            """
        let lines = try await runPython(script, baseURL: server.base + "/v1", key: key)
        try #require(lines.count == 4, "\(lines)")
        #expect(lines[0] == #"["tiny-realtok", "stream:cam1"]"#)
        let whole = try #require((try? JSONSerialization.jsonObject(with: Data(lines[1].utf8))) as? [String: Any])
        #expect(whole["finish"] as? String == "length")
        #expect(whole["completion"] as? Int == 6)
        #expect(whole["object"] as? String == "chat.completion")
        #expect(whole["model"] as? String == "stream:cam1")
        let streamed = try #require((try? JSONSerialization.jsonObject(with: Data(lines[2].utf8))) as? [String: Any])
        #expect(streamed["finish"] as? String == "length")
        #expect(streamed["usage"] as? Int == 5)
        #expect(lines[3] == #"{"status": 401}"#)
        // Both answers are the session's own, as its answer events tell.
        var texts: [String] = []
        for await numbered in answers {
            if case .answer(let a) = numbered.event { texts.append(a.text) }
            if texts.count == 2 { break }
        }
        #expect(texts == [whole["content"] as? String ?? "", streamed["text"] as? String ?? ""])
        #expect(await eventually { server.activeStreamCount == 0 })
    }
}
