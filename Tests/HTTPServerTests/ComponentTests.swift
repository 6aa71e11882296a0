// The parts of the HTTP layer that need no socket: routing, headers, JSON body checks, SSE framing, the Prometheus
// text format and the OpenAI wire shapes.

import Foundation
import Testing
import VigilCore

@testable import HTTPServer
@testable import OpenAIWire

@Suite struct RouterTests {
    func router() -> HTTPRouter {
        var router = HTTPRouter()
        for (method, pattern) in [
            (HTTPMethod.get, "/v1/sources/{id}"), (.delete, "/v1/sources/{id}"), (.get, "/v1/sources/stats"),
            (.get, "/v1/sources/{id}/events"), (.get, "/ui/*"), (.post, "/ui/upload"), (.get, "/health"),
        ] {
            router.add(method, pattern) { _ in .text(pattern) }
        }
        return router
    }

    func resolved(_ method: HTTPMethod, _ path: String) async throws -> String {
        guard case .found(let handler, let parameters) = router().resolve(method, path) else { return "none" }
        let response = try await handler(HTTPRequest(method: method, path: path))
        let body = String(decoding: response.body.data ?? Data(), as: UTF8.self)
        return body
            + (parameters.isEmpty
                ? "" : " " + parameters.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: ","))
    }

    @Test func mostSpecificPatternWins() async throws {
        #expect(try await resolved(.get, "/v1/sources/stats") == "/v1/sources/stats")
        #expect(try await resolved(.get, "/v1/sources/cam1") == "/v1/sources/{id} id=cam1")
        #expect(try await resolved(.get, "/v1/sources/cam1/events") == "/v1/sources/{id}/events id=cam1")
        #expect(try await resolved(.get, "/ui/js/app.js") == "/ui/* *=js/app.js")
        #expect(try await resolved(.get, "/ui") == "/ui/* *=")
        #expect(try await resolved(.get, "/ui/upload") == "/ui/* *=upload")
        #expect(try await resolved(.post, "/ui/upload") == "/ui/upload")
        #expect(try await resolved(.head, "/health") == "/health")
        #expect(try await resolved(.get, "//health/") == "/health")
    }

    @Test func methodNotAllowedListsTheMethods() {
        guard case .methodNotAllowed(let allowed) = router().resolve(.post, "/v1/sources/cam1") else {
            Issue.record("expected 405")
            return
        }
        #expect(allowed == [.get, .head, .delete])
        guard case .notFound = router().resolve(.get, "/v2/nothing") else {
            Issue.record("expected 404")
            return
        }
    }

    @Test func headersAreCaseInsensitive() {
        var headers: HTTPHeaders = ["Content-Type": "text/plain", "X-Many": "1"]
        headers.add("x-many", "2")
        #expect(headers["content-type"] == "text/plain")
        #expect(headers["CONTENT-TYPE"] == "text/plain")
        #expect(headers.values(for: "X-MANY") == ["1", "2"])
        headers["x-MANY"] = "3"
        #expect(headers.values(for: "X-Many") == ["3"])
        headers["Content-Type"] = nil
        #expect(!headers.contains("content-type"))
        #expect(!HTTPHeaders.namesEqual("Accept", "Accep"))
        #expect(HTTPHeaders.namesEqual("Last-Event-ID", "last-event-id"))
    }

    @Test func jsonBodyChecks() throws {
        struct Thing: Decodable { var items: [Int] }
        func request(_ body: String) -> HTTPRequest {
            HTTPRequest(method: .post, path: "/x", body: Data(body.utf8))
        }
        #expect(try request("{\"items\":[1,2]}").decodeJSON(Thing.self).items == [1, 2])
        #expect(JSONShape.depthProblem(Data("[[[\"[[[[[[\"]]]".utf8), maxDepth: 3) == nil)
        #expect(JSONShape.depthProblem(Data("[[[[]]]]".utf8), maxDepth: 3) != nil)
        #expect(JSONShape.depthProblem(Data("{\"a\":\"\\\"[[[[\"}".utf8), maxDepth: 1) == nil)
        func message(_ body: String, maxBytes: Int? = nil) -> String {
            let result = Result { () throws(HTTPError) -> Thing in
                try request(body).decodeJSON(Thing.self, maxBytes: maxBytes)
            }
            switch result {
            case .success: return "decoded"
            case .failure(let error): return "\(error.status) \(error.code.rawValue): \(error.message)"
            }
        }
        #expect(
            message("{\"items\":[1,\"x\"]}") == "400 bad_request: field 'items[1]' of the request body must be a number"
        )
        #expect(message("{}") == "400 bad_request: the request body lacks the field 'items'")
        #expect(message("{\"items\":null}").hasPrefix("400 bad_request: field 'items' of the request body must be"))
        #expect(message("not json") == "400 bad_request: the request body is not valid JSON")
        #expect(message("") == "400 bad_request: the request has no body; send a JSON object")
        #expect(message("{\"items\":[]}", maxBytes: 4).hasPrefix("413 payload_too_large"))
    }

    @Test func errorShape() {
        let error = HTTPError.methodNotAllowed(.post, path: "/health", allowed: [.get, .head])
        #expect(
            error.json.serialized()
                == "{\"error\":{\"code\":\"method_not_allowed\","
                + "\"message\":\"/health does not accept POST; use GET, HEAD\"}}")
        let response = error.response
        #expect(response.status == 405 && response.headers["Allow"] == "GET, HEAD")
        #expect(response.headers["Content-Type"] == "application/json")
        #expect(HTTPError.unauthorized().response.headers["WWW-Authenticate"] == "Bearer")
        #expect(HTTPError.tooManyRequests("busy", retryAfter: 3).response.headers["Retry-After"] == "3")
    }

    @Test func sseFraming() {
        #expect(SSEWriter.lines("a\nb\r\nc\rd").map(String.init) == ["a", "b", "c", "d"])
        #expect(SSEWriter.lines("").map(String.init) == [""])
        #expect(SSEWriter.lines("end\n").map(String.init) == ["end", ""])
        #expect(SSEWriter.singleLine("ev\r\nil") == "ev il")
    }

    @Test func contentTypes() {
        #expect(StaticFiles.contentType(forPath: "a/b/index.HTML") == "text/html; charset=utf-8")
        #expect(StaticFiles.contentType(forPath: "app.js") == "text/javascript; charset=utf-8")
        #expect(StaticFiles.contentType(forPath: "x.png") == "image/png")
        #expect(StaticFiles.contentType(forPath: "noext") == "application/octet-stream")
    }
}

@Suite struct MetricsTests {
    @Test func textFormat() {
        let metrics = MetricsRegistry()
        let frames = metrics.counter(
            "vigil_frames_decoded_total", help: "Frames decoded.\nPer source \\ camera.", labelNames: ["source"])
        let kv = metrics.gauge("vigil_kv_tokens", help: "KV cache tokens.", labelNames: ["source", "tier"])
        _ = metrics.counter("vigil_frames_sampled_total", help: "Frames sampled.")
        let ttft = metrics.histogram(
            "vigil_question_ttft_seconds", help: "Time to first token.", buckets: [0.1, 0.5, 1])
        let lag = metrics.gauge("vigil_ingest_lag_seconds", help: "Wall time minus media time.")
        metrics.onCollect { lag.set(0.25) }
        frames.increment(labels: ["source": "cam1"])
        frames.increment(by: 2, labels: ["source": "cam\"2\"\n\\"])
        kv.set(2100, labels: ["source": "cam1", "tier": "window"])
        kv.set(512, labels: ["source": "cam1", "tier": "sink"])
        for value in [0.05, 0.3, 0.7, 3] { ttft.observe(value) }
        #expect(frames.value(labels: ["source": "cam1"]) == 1)
        #expect(ttft.count() == 4)
        let expected = """
            # HELP vigil_frames_decoded_total Frames decoded.\\nPer source \\\\ camera.
            # TYPE vigil_frames_decoded_total counter
            vigil_frames_decoded_total{source="cam\\"2\\"\\n\\\\"} 2
            vigil_frames_decoded_total{source="cam1"} 1
            # HELP vigil_kv_tokens KV cache tokens.
            # TYPE vigil_kv_tokens gauge
            vigil_kv_tokens{source="cam1",tier="sink"} 512
            vigil_kv_tokens{source="cam1",tier="window"} 2100
            # HELP vigil_frames_sampled_total Frames sampled.
            # TYPE vigil_frames_sampled_total counter
            vigil_frames_sampled_total 0
            # HELP vigil_question_ttft_seconds Time to first token.
            # TYPE vigil_question_ttft_seconds histogram
            vigil_question_ttft_seconds_bucket{le="0.1"} 1
            vigil_question_ttft_seconds_bucket{le="0.5"} 2
            vigil_question_ttft_seconds_bucket{le="1"} 3
            vigil_question_ttft_seconds_bucket{le="+Inf"} 4
            vigil_question_ttft_seconds_sum 4.05
            vigil_question_ttft_seconds_count 4
            # HELP vigil_ingest_lag_seconds Wall time minus media time.
            # TYPE vigil_ingest_lag_seconds gauge
            vigil_ingest_lag_seconds 0.25

            """
        #expect(metrics.render() == expected)
        #expect(metrics.response().headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8")
    }

    @Test func numbersAndNames() {
        #expect(MetricsRegistry.format(.infinity) == "+Inf")
        #expect(MetricsRegistry.format(-.infinity) == "-Inf")
        #expect(MetricsRegistry.format(.nan) == "NaN")
        #expect(MetricsRegistry.format(3) == "3")
        #expect(MetricsRegistry.format(1e-05) == "1e-05")
        #expect(MetricsRegistry.isValidMetricName("vigil_kv_tokens") && MetricsRegistry.isValidMetricName("a:b"))
        #expect(!MetricsRegistry.isValidMetricName("1abc") && !MetricsRegistry.isValidMetricName("a-b"))
        #expect(MetricsRegistry.isValidLabelName("source") && !MetricsRegistry.isValidLabelName("__x"))
    }
}

@Suite struct OpenAIWireTests {
    func decode(_ json: String) throws -> ChatCompletionRequest {
        try JSONDecoder().decode(ChatCompletionRequest.self, from: Data(json.utf8))
    }

    @Test func requestShapes() throws {
        let request = try decode(
            """
            {"model":"stream:cam1","stream":true,"stream_options":{"include_usage":true},"max_tokens":10,
             "max_completion_tokens":20,"temperature":0.5,"stop":"END","source":"cam1","window":{"since":"-120s"},
             "messages":[{"role":"system","content":"Be brief."},
                         {"role":"user","content":[{"type":"text","text":"What?"},
                             {"type":"image_url","image_url":{"url":"data:image/png;base64,AA==","detail":"low"}},
                             {"type":"video_url","video_url":{"url":"file:///clip.mp4"}},
                             {"type":"image_url","image_url":"http://x/y.png"}]},
                         {"role":"assistant","content":null}],
             "unknown_field":{"ignored":true}}
            """)
        #expect(request.model == "stream:cam1" && request.stream && request.includeUsage)
        #expect(request.maxTokens == 20 && request.temperature == 0.5 && request.stop == ["END"])
        #expect(request.source == "cam1" && request.window == .init(since: "-120s"))
        #expect(request.messages.count == 3 && request.messages[0].text == "Be brief.")
        #expect(
            request.messages[1].content == [
                .text("What?"), .imageURL("data:image/png;base64,AA==", detail: "low"), .videoURL("file:///clip.mp4"),
                .imageURL("http://x/y.png", detail: nil),
            ])
        #expect(request.messages[2].content.isEmpty)
        let minimal = try decode(
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5}")
        #expect(!minimal.stream && !minimal.includeUsage && minimal.maxTokens == 5 && minimal.stop.isEmpty)
    }

    @Test func requestErrorsNameTheField() {
        func message(_ json: String) -> String {
            let request = HTTPRequest(method: .post, path: "/v1/chat/completions", body: Data(json.utf8))
            do {
                _ = try request.decodeJSON(ChatCompletionRequest.self)
                return "decoded"
            } catch {
                return error.message
            }
        }
        #expect(message("{\"messages\":[]}") == "the request body lacks the field 'model'")
        #expect(message("{\"model\":\"m\",\"messages\":[]}").contains("'messages'"))
        #expect(
            message("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\"}]}]}")
                .contains("unsupported content part type 'input_audio'"))
        #expect(
            message("{\"model\":\"m\",\"messages\":[{\"role\":\"robot\",\"content\":\"x\"}]}").contains(
                "unknown role 'robot'"))
        #expect(
            message("{\"model\":\"m\",\"temperature\":3,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}")
                .contains("'temperature'"))
    }

    @Test func responseShapes() {
        let completion = ChatCompletion(
            id: "chatcmpl-1", created: 7, model: "m", content: "Hi.",
            usage: ChatUsage(promptTokens: 3, completionTokens: 2))
        #expect(
            completion.json.serialized()
                == "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":7,\"model\":\"m\","
                + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi.\"},"
                + "\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                + "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}")
        let chunks = ChatCompletionChunks(id: "chatcmpl-2", created: 8, model: "m", includeUsage: true)
        let head = "{\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"created\":8,\"model\":\"m\","
        #expect(
            chunks.role().serialized()
                == head
                + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
                + "\"finish_reason\":null}],\"usage\":null}")
        #expect(
            chunks.content("a").serialized()
                == head
                + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"logprobs\":null,\"finish_reason\":null}],"
                + "\"usage\":null}")
        #expect(
            chunks.finish(.length).serialized()
                == head + "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"length\"}],"
                + "\"usage\":null}")
        #expect(
            chunks.usage(ChatUsage(promptTokens: 1, completionTokens: 1)).serialized()
                == head + "\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}")
        #expect(!ChatCompletionChunks(model: "m").content("a").serialized().contains("usage"))
        #expect(
            ModelList([.init(id: "stream:cam1", created: 5)]).json.serialized()
                == "{\"object\":\"list\",\"data\":[{\"id\":\"stream:cam1\",\"object\":\"model\",\"created\":5,"
                + "\"owned_by\":\"vigil\"}]}")
    }
}
