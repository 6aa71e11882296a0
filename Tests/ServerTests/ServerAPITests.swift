// The API of `vigil serve` through curl, on the tiny model and synthetic clips: health and readiness, the model list,
// sources (add, list, inspect, remove; bad settings, names, paths), questions on a source (whole and streamed,
// OpenAI-shaped), captions and the latest frame, metrics, the queue cap (429 with Retry-After), the API key (401),
// and malformed or oversized requests (4xx, the server still answering afterwards).

import Foundation
@testable import Server
import Streaming
import TestSupport
import Testing

@Suite(.serialized, .holdingSerialLock) struct ServerAPITests {
    @Test func healthReadinessAndModels() async throws {
        let server = try VigilServer(configuration: ServerFixtures.configuration(state: try ServerFixtures.stateDirectory()))
        try server.start()
        // Listening before the model is there: live, not ready; routes that need the model say so.
        let early = try await Curl.run(server.base + "/health/ready")
        #expect(early.status == 503 && early.errorCode == "not_ready")
        #expect(early.header("Retry-After") == "5")
        #expect(try await Curl.run(server.base + "/health/live").status == 200)
        #expect(try await Curl.run(server.base + "/v1/models").errorCode == "not_ready")
        await server.attach(model: ServerFixtures.model, sources: [("cam1", ServerFixtures.clip("static_moving.mp4"))])
        defer { Task { await server.stop() } }
        #expect(try await Curl.run(server.base + "/health/ready").status == 200)
        let health = try await Curl.run(server.base + "/health")
        #expect(health.json?["ready"] as? Bool == true)
        #expect(health.json?["model"] as? String == "tiny-realtok", "a local folder shows by its name only")
        let models = try await Curl.run(server.base + "/v1/models")
        let ids = (models.json?["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
        #expect(ids == ["tiny-realtok", "stream:cam1"])
    }

    @Test func sourcesAreAddedInspectedAndRemoved() async throws {
        let server = try await ServerFixtures.start()
        defer { Task { await server.stop() } }
        let clip = ServerFixtures.clip("static_moving.mp4")
        let created = try await Curl.post(
            server.base + "/v1/sources",
            json: #"{"url":"\#(clip)","name":"yard","fps":1,"options":{"window":8,"captions":false}}"#)
        #expect(created.status == 201, "\(created.body)")
        #expect(created.json?["id"] as? String == "yard")
        #expect((created.json?["options"] as? [String: String])?["window"] == "8")
        #expect((created.json?["status"] as? [String: Any])?["type"] as? String == "status")

        let duplicate = try await Curl.post(server.base + "/v1/sources", json: #"{"url":"\#(clip)","name":"yard"}"#)
        #expect(duplicate.status == 409 && duplicate.errorCode == "conflict")
        let badOption = try await Curl.post(
            server.base + "/v1/sources", json: #"{"url":"\#(clip)","options":{"windoww":"8"}}"#)
        #expect(badOption.status == 400 && badOption.errorMessage?.contains("unknown setting 'windoww'") == true)
        let badValue = try await Curl.post(server.base + "/v1/sources", json: #"{"url":"\#(clip)","fps":99}"#)
        #expect(badValue.status == 400 && badValue.errorMessage?.contains("fps") == true)
        let badName = try await Curl.post(server.base + "/v1/sources", json: #"{"url":"\#(clip)","name":"../x"}"#)
        #expect(badName.status == 400)
        let outside = try await Curl.post(server.base + "/v1/sources", json: #"{"url":"/etc/hostname"}"#)
        #expect(outside.status == 403 && outside.errorCode == "path_not_allowed")
        #expect(outside.errorMessage?.contains(ServerFixtures.media.path) == false, "no server folder in errors")
        let escape = try await Curl.post(
            server.base + "/v1/sources", json: #"{"url":"\#(ServerFixtures.media.path)/../../../etc/hostname"}"#)
        #expect(escape.status == 403)
        let stdin = try await Curl.post(server.base + "/v1/sources", json: #"{"url":"-"}"#)
        #expect(stdin.status == 400)
        let greedy = try await Curl.post(
            server.base + "/v1/sources", json: #"{"url":"\#(clip)","options":{"retrieval-mb":"65536"}}"#)
        #expect(greedy.status == 400 && greedy.errorMessage?.contains("retrieval-mb") == true)
        let preset = try await Curl.post(server.base + "/v1/sources", json: #"{"url":"\#(clip)","pipeline":"../x"}"#)
        #expect(preset.status == 400)

        let list = try await Curl.run(server.base + "/v1/sources")
        #expect((list.json?["data"] as? [[String: Any]])?.map { $0["id"] as? String } == ["yard"])
        let one = try await Curl.run(server.base + "/v1/sources/yard")
        #expect(one.status == 200 && one.json?["url"] as? String == clip)
        #expect(await eventually {
            let s = try? await Curl.run(server.base + "/v1/sources/yard")
            return ((s?.json?["status"] as? [String: Any])?["frames_processed"] as? Int ?? 0) > 0
        })
        let frame = try await Curl.run(server.base + "/v1/sources/yard/frame")
        #expect(frame.status == 200 && frame.header("Content-Type") == "image/png")
        #expect(frame.body.utf8.starts(with: [0x89, 0x50, 0x4E, 0x47]) || frame.body.hasPrefix("\u{FFFD}PNG"))
        #expect(frame.header("X-Vigil-Media-Time") != nil)

        let deleted = try await Curl.run(server.base + "/v1/sources/yard", ["-X", "DELETE"])
        #expect(deleted.status == 200 && deleted.json?["deleted"] as? Bool == true)
        #expect(try await Curl.run(server.base + "/v1/sources/yard").errorCode == "not_found")
        #expect(try await Curl.run(server.base + "/v1/sources/yard", ["-X", "DELETE"]).status == 404)
        #expect(!FileManager.default.fileExists(
            atPath: server.configuration.stateDirectory.appendingPathComponent("sources/yard").path))
    }

    @Test func questionsOnASourceAnswerLikeOpenAI() async throws {
        let server = try await ServerFixtures.start(sources: [("cam1", ServerFixtures.clip("static_moving.mp4"))])
        defer { Task { await server.stop() } }
        let session = try #require(server.session("cam1"))
        await session.waitUntilIdle()
        let events = session.events.subscribe()
        let whole = try await Curl.post(
            server.base + "/v1/chat/completions",
            json: #"{"model":"stream:cam1","max_tokens":5,"messages":[{"role":"system","content":"Be brief."},"#
                + #"{"role":"user","content":"What is moving?"}]}"#)
        #expect(whole.status == 200, "\(whole.body)")
        let choice = try #require((whole.json?["choices"] as? [[String: Any]])?.first)
        let content = try #require((choice["message"] as? [String: Any])?["content"] as? String)
        #expect(whole.json?["object"] as? String == "chat.completion")
        #expect(whole.json?["model"] as? String == "stream:cam1")
        #expect(choice["finish_reason"] as? String == "length")
        #expect((whole.json?["usage"] as? [String: Any])?["completion_tokens"] as? Int == 5)
        let vigil = try #require(whole.json?["vigil"] as? [String: Any])
        #expect((vigil["asked_at"] as? Double ?? 0) > 11, "asked at the end of the replayed file")
        // The same answer is an `answer` event of the source.
        var published: String?
        for await numbered in events {
            if case .answer(let a) = numbered.event { published = a.text; break }
        }
        #expect(published == content)

        let streamed = try await Curl.post(
            server.base + "/v1/chat/completions",
            json: #"{"model":"any","source":"cam1","stream":true,"stream_options":{"include_usage":true},"#
                + #""messages":[{"role":"user","content":[{"type":"text","text":"And now?"}]}]}"#)
        #expect(streamed.status == 200)
        #expect(streamed.header("Content-Type") == "text/event-stream")
        #expect(streamed.body.hasPrefix(": ok"))
        #expect(streamed.body.hasSuffix("data: [DONE]\n\n"))
        let chunks = dataObjects(in: streamed.body)
        let deltas = chunks.flatMap { ($0["choices"] as? [[String: Any]]) ?? [] }
            .compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }
        #expect(deltas.first == "", "the role chunk comes first")
        #expect(deltas.joined().isEmpty == false)
        #expect((chunks.last?["usage"] as? [String: Any])?["completion_tokens"] as? Int == 8)

        let nowhere = try await Curl.post(
            server.base + "/v1/chat/completions", json: #"{"model":"x","messages":[{"role":"user","content":"Hi"}]}"#)
        #expect(nowhere.status == 400 && nowhere.errorMessage?.contains("stream:cam1") == true)
        let unknown = try await Curl.post(
            server.base + "/v1/chat/completions",
            json: #"{"model":"stream:nope","messages":[{"role":"user","content":"Hi"}]}"#)
        #expect(unknown.status == 404)
        let noUser = try await Curl.post(
            server.base + "/v1/chat/completions",
            json: #"{"model":"stream:cam1","messages":[{"role":"system","content":"Hi"}]}"#)
        #expect(noUser.status == 400)
    }

    @Test func questionsAboutAFileStayInsideTheAllowedFolders() async throws {
        let server = try await ServerFixtures.start()
        defer { Task { await server.stop() } }
        let clip = ServerFixtures.clip("scene_cut.mp4")
        let answer = try await Curl.post(
            server.base + "/v1/chat/completions",
            json: #"{"model":"smolvlm","max_tokens":4,"messages":[{"role":"user","content":["#
                + #"{"type":"text","text":"What changes?"},{"type":"video_url","video_url":{"url":"file://\#(clip)"}}]}]}"#)
        #expect(answer.status == 200, "\(answer.body)")
        #expect(((answer.json?["vigil"] as? [String: Any])?["asked_at"] as? Double ?? 0) > 9)
        let outside = try await Curl.post(
            server.base + "/v1/chat/completions",
            json: #"{"model":"smolvlm","messages":[{"role":"user","content":["#
                + #"{"type":"text","text":"?"},{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}]}"#)
        #expect(outside.status == 403 && outside.errorCode == "path_not_allowed")
        let remote = try await Curl.post(
            server.base + "/v1/chat/completions",
            json: #"{"model":"smolvlm","messages":[{"role":"user","content":["#
                + #"{"type":"text","text":"?"},{"type":"image_url","image_url":"https://example.com/a.png"}]}]}"#)
        #expect(remote.status == 400)
        let missing = try await Curl.post(
            server.base + "/v1/chat/completions",
            json: #"{"model":"smolvlm","messages":[{"role":"user","content":["#
                + #"{"type":"text","text":"?"},{"type":"video_url","video_url":"\#(ServerFixtures.media.path)/none.mp4"}]}]}"#)
        #expect(missing.status == 400 && missing.errorMessage?.contains("does not exist") == true)
    }

    @Test func captionsComeAsVTTSRTAndJSONLinesWithinATimeRange() async throws {
        let server = try await ServerFixtures.start(sources: [("cam1", ServerFixtures.clip("static_moving.mp4"))]) {
            $0.sessionDefaults.captions = true
        }
        defer { Task { await server.stop() } }
        let session = try #require(server.session("cam1"))
        await session.waitUntilIdle()
        #expect(await eventually { await session.memoryEntries().filter { $0.level == .clip }.count >= 5 })
        let vtt = try await Curl.run(server.base + "/v1/sources/cam1/captions?format=vtt")
        #expect(vtt.status == 200 && vtt.body.hasPrefix("WEBVTT"))
        #expect(vtt.header("Content-Type")?.hasPrefix("text/vtt") == true)
        let srt = try await Curl.run(server.base + "/v1/sources/cam1/captions?format=srt&since=4&until=0:08")
        let cues = srt.body.components(separatedBy: "\n").filter { $0.contains(" --> ") }
        #expect(cues == ["00:00:04,000 --> 00:00:06,000", "00:00:06,000 --> 00:00:08,000"])
        let jsonl = try await Curl.run(server.base + "/v1/sources/cam1/captions?format=jsonl&since=-4s")
        let levels = jsonl.body.split(separator: "\n").compactMap {
            ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any])?["level"] as? String
        }
        #expect(levels.contains("clip") && !levels.isEmpty)
        #expect(try await Curl.run(server.base + "/v1/sources/cam1/captions?format=doc").status == 400)
        #expect(try await Curl.run(server.base + "/v1/sources/cam1/captions?since=yesterday").status == 400)
    }

    @Test func metricsNameEverySourceAndTheAnswerHistograms() async throws {
        let server = try await ServerFixtures.start(sources: [("cam1", ServerFixtures.clip("static_moving.mp4"))])
        defer { Task { await server.stop() } }
        try await #require(server.session("cam1")).waitUntilIdle()
        _ = try await Curl.post(
            server.base + "/v1/chat/completions",
            json: #"{"model":"stream:cam1","messages":[{"role":"user","content":"What is moving?"}]}"#)
        let metrics = try await Curl.run(server.base + "/metrics")
        #expect(metrics.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        for line in [
            #"vigil_frames_decoded_total{source="cam1"} 360"#, #"vigil_frames_sampled_total{source="cam1"} 12"#,
            #"vigil_frames_dropped_total{source="cam1",reason="lag"} 0"#, "vigil_question_ttft_seconds_count 1",
            "vigil_question_duration_seconds_count 1", #"vigil_questions_total{result="answered"} 1"#,
            #"vigil_sources{state="ended"} 1"#, "vigil_model_loaded 1",
        ] {
            #expect(metrics.body.contains(line + "\n"), "\(line)")
        }
        for name in [
            "vigil_ingest_lag_seconds", "vigil_vit_tokens_reused_ratio", "vigil_visual_tokens_kept_ratio",
            "vigil_kv_tokens", "vigil_process_resident_memory_bytes", "vigil_decode_tokens_per_second",
            "vigil_prefill_tokens_per_second", "vigil_rtsp_reconnects_total", "vigil_segments_total",
        ] {
            #expect(metrics.body.contains("# TYPE \(name) "), "\(name)")
        }
    }

    @Test func aFullQueueIsTooManyRequestsWithRetryAfter() async throws {
        let server = try await ServerFixtures.start(sources: [("cam1", ServerFixtures.clip("static_moving.mp4"))]) {
            $0.maxQueuedQuestions = 1
        }
        defer { Task { await server.stop() } }
        let source = try #require(server.service.registry.source("cam1"))
        #expect(source.gate.tryReserve(), "the test holds the one slot")
        let body = #"{"model":"stream:cam1","messages":[{"role":"user","content":"What is moving?"}]}"#
        let full = try await Curl.post(server.base + "/v1/chat/completions", json: body)
        #expect(full.status == 429 && full.errorCode == "queue_full")
        #expect(full.header("Retry-After") == "2")
        source.gate.release()
        #expect(try await Curl.post(server.base + "/v1/chat/completions", json: body).status == 200)
        #expect(source.gate.count == 0, "the slot is free again once the answer has finished")
        let metrics = try await Curl.run(server.base + "/metrics")
        #expect(metrics.body.contains(#"vigil_questions_total{result="rejected"} 1"#))
    }

    @Test func jobsRunInOrderAndCanBeCancelledOrForgotten() async throws {
        let server = try await ServerFixtures.start()
        defer { Task { await server.stop() } }
        let jobs = server.base + "/v1/jobs"
        let long = #"{"input":"\#(ServerFixtures.clip("long.mkv"))","fps":4,"clip_seconds":2,"frames_per_clip":8}"#
        let running = try await Curl.post(jobs, json: long)
        #expect(running.status == 201 && running.json?["state"] as? String == "queued")
        let runningID = try #require(running.json?["id"] as? String)
        let waiting = try await Curl.post(jobs, json: #"{"input":"file://\#(ServerFixtures.clip("scene_cut.mp4"))"}"#)
        let waitingID = try #require(waiting.json?["id"] as? String)
        #expect(await eventually {
            (try? await Curl.run(jobs + "/" + runningID))?.json?["state"] as? String == "running"
        })
        #expect(await eventually {
            let job = try? await Curl.run(jobs + "/" + runningID).json
            return job?["duration_s"] as? Double == 60 && job?["media_s"] as? Double != nil
        }, "progress is reported")
        #expect(try await Curl.run(jobs + "/" + waitingID).json?["state"] as? String == "queued", "one at a time")
        let early = try await Curl.run(jobs + "/" + runningID + "/result?format=srt")
        #expect(early.status == 409 && early.errorMessage?.contains("running") == true)

        let cancelledWaiting = try await Curl.run(jobs + "/" + waitingID, ["-X", "DELETE"])
        #expect(cancelledWaiting.json?["state"] as? String == "cancelled")
        _ = try await Curl.run(jobs + "/" + runningID, ["-X", "DELETE"])
        #expect(await eventually {
            (try? await Curl.run(jobs + "/" + runningID))?.json?["state"] as? String == "cancelled"
        }, "it stops at its next clip")
        let list = try await Curl.run(jobs)
        #expect((list.json?["data"] as? [[String: Any]])?.count == 2)
        let forgotten = try await Curl.run(jobs + "/" + waitingID, ["-X", "DELETE"])
        #expect(forgotten.json?["deleted"] as? Bool == true)
        #expect(try await Curl.run(jobs + "/" + waitingID).status == 404)
        #expect(!FileManager.default.fileExists(
            atPath: server.configuration.stateDirectory.appendingPathComponent("jobs/\(waitingID)").path))

        #expect(try await Curl.post(jobs, json: #"{"input":"/etc/hostname"}"#).errorCode == "path_not_allowed")
        let badFormat = try await Curl.post(
            jobs, json: #"{"input":"\#(ServerFixtures.clip("scene_cut.mp4"))","formats":"srt,doc"}"#)
        #expect(badFormat.status == 400)
        let badClip = try await Curl.post(
            jobs, json: #"{"input":"\#(ServerFixtures.clip("scene_cut.mp4"))","clip_seconds":0}"#)
        #expect(badClip.status == 400)
        #expect(try await Curl.run(jobs + "/job_nothing").status == 404)
    }

    @Test func anAPIKeyGuardsEverythingButHealthAndThePage() async throws {
        let key = "k3y-for-the-tests-0123456789"
        let server = try await ServerFixtures.start { $0.http.apiKey = key }
        defer { Task { await server.stop() } }
        let bare = try await Curl.run(server.base + "/v1/sources")
        #expect(bare.status == 401 && bare.errorCode == "unauthorized")
        #expect(bare.header("WWW-Authenticate") == "Bearer")
        #expect(try await Curl.run(server.base + "/v1/sources", ["-H", "Authorization: Bearer wrong"]).status == 401)
        #expect(try await Curl.run(server.base + "/v1/nothing").status == 401, "routes are not revealed")
        #expect(try await Curl.run(server.base + "/v1/sources", ["-H", "Authorization: Bearer \(key)"]).status == 200)
        #expect(try await Curl.run(server.base + "/health").status == 200)
        let page = try await Curl.run(server.base + "/")
        #expect(page.status == 200 && page.body.contains("<title>Vigil</title>"))
        #expect(try await Curl.run(server.base + "/ui/app.js").status == 200)
        #expect(try await Curl.run(server.base + "/ui/../sources.json", ["--path-as-is"]).status == 404)
    }

    @Test func malformedAndOversizedRequestsGet4xxAndTheServerCarriesOn() async throws {
        let server = try await ServerFixtures.start(sources: [("cam1", ServerFixtures.clip("static_moving.mp4"))]) {
            $0.http.maxRequestBodyBytes = 4096
        }
        defer { Task { await server.stop() } }
        let chat = server.base + "/v1/chat/completions"
        #expect(try await Curl.post(chat, json: "{not json").status == 400)
        #expect(try await Curl.post(chat, json: #"{"model":"stream:cam1","messages":[]}"#).status == 400)
        #expect(try await Curl.post(chat, json: #"{"model":"stream:cam1"}"#).errorMessage?.contains("messages") == true)
        let part = #"{"model":"stream:cam1","messages":[{"role":"user","content":[{"type":"audio","x":1}]}]}"#
        #expect(try await Curl.post(chat, json: part).status == 400)
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(try await Curl.post(chat, json: deep).status == 400)
        let big = #"{"model":"stream:cam1","messages":[{"role":"user","content":""# + String(repeating: "a", count: 9000)
            + #""}]}"#
        let tooBig = try await Curl.post(chat, json: big)
        #expect(tooBig.status == 413 && tooBig.errorCode == "payload_too_large")
        #expect(try await Curl.run(server.base + "/v1/sources?" + String(repeating: "q", count: 10_000)).status == 414)
        let hugeHeader = try await Curl.run(server.base + "/health", ["-H", "X-Big: " + String(repeating: "b", count: 20_000)])
        #expect(hugeHeader.status == 431)
        #expect(try await Curl.run(chat).status == 405)
        #expect(try await Curl.post(server.base + "/v1/sources", json: #"{"url":5}"#).status == 400)
        #expect(try await Curl.run(server.base + "/v1/sources/cam1/events", ["-H", "Last-Event-ID: x"]).status == 400)
        let garbage = try RawConnection(port: server.port)
        garbage.send([0x16, 0x03, 0x01, 0x02, 0x00, 0xFF, 0xFE, 0x0D, 0x0A, 0x0D, 0x0A])
        _ = await garbage.readAll()
        let broken = try RawConnection(port: server.port)
        broken.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"model\":")
        // Hanging up in the middle of a body.
        _ = broken
        #expect(try await Curl.run(server.base + "/health").status == 200, "still serving")
    }
}
