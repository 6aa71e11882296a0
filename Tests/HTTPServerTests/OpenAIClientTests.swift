// The official `openai` Python client against a stub chat-completions route (a handler that answers fixed words),
// streaming and not, plus the model list. The client is installed by scripts/setup into a virtual environment in
// ${VIGIL_CACHE:-~/.cache/vigil}/openai-venv; without it these tests are skipped with a message, except under CI
// (CI=true), where a missing client is a failure. (The rule "tests never run Python" is waived here: the point is
// that the real client accepts what the server sends.)

import Foundation
import HTTPServer
import OpenAIWire
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

let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

/// The words the stub answers with.
let stubWords = ["The", " camera", " shows", " a", " quiet", " street", "."]

/// Stub OpenAI routes: chat completions (streamed word by word, or whole) and the model list.
func stubOpenAIRoutes(_ router: inout HTTPRouter, recorder: Recorder) {
    router.get("/v1/models") { _ in
        .json(ModelList([.init(id: "smolvlm2-256m", created: 1_700_000_000), .init(id: "stream:cam1")]).json)
    }
    router.post("/v1/chat/completions") { request in
        let body = try request.decodeJSON(ChatCompletionRequest.self)
        recorder.note("model=\(body.model) stream=\(body.stream) usage=\(body.includeUsage) max=\(body.maxTokens ?? 0)")
        recorder.note("question=\(body.messages.last?.text ?? "")")
        for part in body.messages.flatMap(\.content) {
            if case .imageURL(let url, _) = part { recorder.note("image=\(url)") }
            if case .videoURL(let url) = part { recorder.note("video=\(url)") }
        }
        let usage = ChatUsage(promptTokens: 12, completionTokens: stubWords.count)
        guard body.stream else {
            return .json(ChatCompletion(model: body.model, content: stubWords.joined(), usage: usage).json)
        }
        let chunks = ChatCompletionChunks(model: body.model, includeUsage: body.includeUsage)
        return .eventStream { writer in
            try writer.send(json: chunks.role())
            for word in stubWords {
                try writer.send(json: chunks.content(word))
                await Task.yield()
            }
            try writer.send(json: chunks.finish(.stop))
            if body.includeUsage { try writer.send(json: chunks.usage(usage)) }
            try writer.send(data: ChatCompletionChunks.done)
        }
    }
}

@Suite(.serialized, .holdingSerialLock) struct OpenAIClientTests {
    static let enabled = openAIPython != nil || isCI

    /// Runs `script` with the venv's Python (argv[1] = base URL); its standard output.
    func runPython(_ script: String, baseURL: String) async throws -> String {
        guard let python = openAIPython else {
            Issue.record("the openai Python client is missing: run scripts/setup (it installs it into the cache)")
            return ""
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("openai-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let scriptFile = directory.appendingPathComponent("client.py")
        let outputFile = directory.appendingPathComponent("out.txt")
        try Data(script.utf8).write(to: scriptFile)
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        let process = Process()
        process.executableURL = python
        process.arguments = [scriptFile.path, baseURL]
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        let errorFile = directory.appendingPathComponent("err.txt")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errorFile)
        var environment = ProcessInfo.processInfo.environment
        environment["NO_PROXY"] = "127.0.0.1"
        environment["no_proxy"] = "127.0.0.1"
        process.environment = environment
        let status: Int32 = await withCheckedContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(returning: -1) }
        }
        let errors = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
        #expect(status == 0, "python failed: \(errors)")
        return (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
    }

    @Test(.enabled(if: enabled, "the openai Python client is not installed: run scripts/setup"))
    func nonStreamingCompletionAndModels() async throws {
        let recorder = Recorder()
        let server = try startServer({ $0.apiKey = "test-key" }) { stubOpenAIRoutes(&$0, recorder: recorder) }
        defer { server.stop() }
        let script = """
            import json, sys
            import openai
            client = openai.OpenAI(base_url=sys.argv[1], api_key="test-key", max_retries=0, timeout=60)
            r = client.chat.completions.create(
                model="smolvlm2-256m", max_tokens=32,
                messages=[{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": [
                              {"type": "text", "text": "What is in the picture?"},
                              {"type": "image_url", "image_url": {"url": "file:///tmp/frame.png"}}]}])
            print(json.dumps({"id": r.id, "object": r.object, "content": r.choices[0].message.content,
                              "role": r.choices[0].message.role, "finish": r.choices[0].finish_reason,
                              "total": r.usage.total_tokens}))
            print(json.dumps([m.id for m in client.models.list()]))
            try:
                openai.OpenAI(base_url=sys.argv[1], api_key="wrong", max_retries=0).models.list()
                print("no error")
            except openai.AuthenticationError as e:
                code = e.body.get("code") if isinstance(e.body, dict) else None
                print(json.dumps({"status": e.status_code, "code": code}))
            """
        let lines = try await runPython(script, baseURL: "http://127.0.0.1:\(server.port)/v1")
            .split(separator: "\n").map(String.init)
        try #require(lines.count == 3, "\(lines)")
        let completion = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(completion["content"] as? String == stubWords.joined())
        #expect(completion["object"] as? String == "chat.completion")
        #expect(completion["role"] as? String == "assistant")
        #expect(completion["finish"] as? String == "stop")
        #expect(completion["total"] as? Int == 12 + stubWords.count)
        #expect((completion["id"] as? String)?.hasPrefix("chatcmpl-") == true)
        #expect(lines[1] == "[\"smolvlm2-256m\", \"stream:cam1\"]")
        #expect(lines[2] == "{\"status\": 401, \"code\": \"unauthorized\"}")
        #expect(recorder.contains("model=smolvlm2-256m stream=false usage=false max=32"))
        #expect(recorder.contains("question=What is in the picture?"))
        #expect(recorder.contains("image=file:///tmp/frame.png"))
    }

    @Test(.enabled(if: enabled, "the openai Python client is not installed: run scripts/setup"))
    func streamingCompletionWithUsage() async throws {
        let recorder = Recorder()
        let server = try startServer { stubOpenAIRoutes(&$0, recorder: recorder) }
        defer { server.stop() }
        let script = """
            import json, sys
            import openai
            client = openai.OpenAI(base_url=sys.argv[1], api_key="unused", max_retries=0, timeout=60)
            stream = client.chat.completions.create(
                model="stream:cam1", stream=True, stream_options={"include_usage": True},
                max_completion_tokens=64, temperature=0,
                messages=[{"role": "user", "content": [
                    {"type": "text", "text": "What happened?"},
                    {"type": "video_url", "video_url": {"url": "file:///tmp/clip.mp4"}}]}])
            deltas, finish, usage, roles = [], None, None, []
            for chunk in stream:
                assert chunk.object == "chat.completion.chunk"
                if chunk.usage is not None:
                    usage = chunk.usage.total_tokens
                for choice in chunk.choices:
                    if choice.delta.role:
                        roles.append(choice.delta.role)
                    if choice.delta.content:
                        deltas.append(choice.delta.content)
                    if choice.finish_reason:
                        finish = choice.finish_reason
            print(json.dumps({"deltas": deltas, "finish": finish, "usage": usage, "roles": roles}))
            plain = client.chat.completions.create(model="stream:cam1", stream=True,
                                                   messages=[{"role": "user", "content": "Again?"}])
            print(json.dumps("".join(c.choices[0].delta.content or "" for c in plain if c.choices)))
            """
        let lines = try await runPython(script, baseURL: "http://127.0.0.1:\(server.port)/v1")
            .split(separator: "\n").map(String.init)
        try #require(lines.count == 2, "\(lines)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(result["deltas"] as? [String] == stubWords)
        #expect(result["finish"] as? String == "stop")
        #expect(result["usage"] as? Int == 12 + stubWords.count)
        #expect(result["roles"] as? [String] == ["assistant"])
        #expect(lines[1] == "\"\(stubWords.joined())\"")
        #expect(recorder.contains("model=stream:cam1 stream=true usage=true max=64"))
        #expect(recorder.contains("video=file:///tmp/clip.mp4"))
        #expect(await eventually { server.activeStreamCount == 0 })
    }
}
