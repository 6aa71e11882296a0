// Fuzz harness: HTTP requests as `vigil serve` receives them. The input is a request in HTTP/1.1 form — a request
// line, header lines, an empty line, the body — cut up the way libmicrohttpd hands it over (method, percent-decoded
// path, decoded query parameters, header fields, body) and answered in-process by an `HTTPServer` with an API key
// and routes shaped like the server's: OpenAI chat completions (the body decoded into `ChatCompletionRequest` and
// its parts used), model list, sources with `{id}` parameters, events with a query, and static files under `/ui/*`.
// libmicrohttpd's own parsing of the bytes on the socket is not part of this target.

import Foundation
import HTTPServer
import OpenAIWire
import VigilCore

/// The body of `POST /v1/sources` in the harness's server.
private struct SourceRequest: Decodable {
    var id: String
    var url: String
    var fps: Double?
    var options: [String: String]?
}

enum HTTPRequestHarness {
    /// The API key the server requires (public paths aside).
    static let apiKey = "fuzz-key"

    private static let server: HTTPServer = {
        var configuration = HTTPServerConfiguration()
        configuration.apiKey = apiKey
        configuration.maxRequestBodyBytes = 64 << 10
        configuration.maxHeaderBytes = 4 << 10
        configuration.maxURLLength = 2 << 10
        let pages = Scratch.emptyFolder("http-ui")
        Scratch.write(Array("<html></html>".utf8), to: "index.html", in: pages)
        Scratch.write(Array("body {}".utf8), to: "css/site.css", in: pages)
        let files = StaticFiles(directory: pages)

        var router = HTTPRouter()
        router.get("/health") { _ in .json(.object([("status", .string("ok"))])) }
        router.get("/v1/models") { _ in
            .json(ModelList([ModelList.Entry(id: "HuggingFaceTB/SmolVLM2-256M-Video-Instruct")]).json)
        }
        router.post("/v1/chat/completions") { request in
            let chat = try request.decodeJSON(ChatCompletionRequest.self, maxBytes: 32 << 10)
            return .json(ChatCompletion(model: chat.model, content: describe(chat)).json)
        }
        router.get("/v1/sources/{id}") { request in
            .json(.object([("id", .string(request.pathParameters["id"] ?? ""))]))
        }
        router.delete("/v1/sources/{id}") { _ in HTTPResponse(status: 204) }
        router.post("/v1/sources") { request in
            let source = try request.decodeJSON(SourceRequest.self)
            return .json(.object([("id", .string(source.id)), ("url", .string(URL(string: source.url)?.scheme ?? ""))]))
        }
        router.get("/v1/sources/{id}/events") { request in
            let since = request.query["since"].flatMap(Double.init) ?? 0
            let last = request.lastEventID.flatMap(Int.init) ?? -1
            return .json(.object([("since", .double(since.isFinite ? since : 0)), ("last", .int(last))]))
        }
        router.get("/ui/*", files.handler)
        return HTTPServer(configuration: configuration, router: router)
    }()

    /// Builds the server (and the files it serves) and answers a request twice, so the concurrency runtime's threads and whatever they open lazily exist before
    /// the first input (the descriptor check of `FuzzTarget.fuzz` would take them for a leak).
    static func prepare() {
        _ = server.configuration
        for _ in 0..<2 { run(Array("GET /health HTTP/1.1\r\n\r\n".utf8)) }
    }

    /// The request being answered, handed to the answering task without capturing it: everything the input
    /// allocated must be freed before `run` returns, or libFuzzer's leak check (right after an input that mallocs more
    /// than it frees) finds request and response bodies still held by a task that has signalled but not finished —
    /// and reports them, since a `Data` held in a multi-payload enum keeps its pointer with tag bits LeakSanitizer
    /// does not recognise.
    private nonisolated(unsafe) static var pending: HTTPRequest?
    private static let lock = NSLock()
    private static let done = DispatchSemaphore(value: 0)

    static func run(_ input: [UInt8]) {
        guard let request = parse(input) else { return }
        lock.withLock { pending = request }
        Task.detached {
            await answerPending()
            done.signal()
        }
        done.wait()
    }

    /// Answers `pending`; the request and the response are released when it returns.
    private static func answerPending() async {
        guard let request = lock.withLock({ () -> HTTPRequest? in
            defer { pending = nil }
            return pending
        }) else { return }
        let response = await server.respond(to: request)
        _ = response.status
        _ = response.body.data
    }

    /// What a handler would read of a chat request: texts, URLs, the window, the sampling settings.
    private static func describe(_ chat: ChatCompletionRequest) -> String {
        var words: [String] = []
        for message in chat.messages {
            words.append(message.role.rawValue + ":" + message.text.prefix(64))
            for part in message.content {
                switch part {
                case .text: break
                case .imageURL(let url, let detail): words.append((URL(string: url)?.scheme ?? "-") + (detail ?? ""))
                case .videoURL(let url): words.append(URL(string: url)?.host ?? "-")
                }
            }
        }
        words += chat.stop
        if let window = chat.window { words += [window.since ?? "", window.until ?? ""] }
        return words.joined(separator: " ") + "\(chat.maxTokens ?? 0) \(chat.temperature ?? 0) \(chat.seed ?? 0)"
    }

    /// The request as libmicrohttpd would hand it over, or nil when the input has no request line.
    static func parse(_ input: [UInt8]) -> HTTPRequest? {
        var head = input[...]
        var body: ArraySlice<UInt8> = []
        if let end = find([0x0D, 0x0A, 0x0D, 0x0A], in: input) {
            head = input[..<end]
            body = input[(end + 4)...]
        } else if let end = find([0x0A, 0x0A], in: input) {
            head = input[..<end]
            body = input[(end + 2)...]
        }
        var lines = FuzzInput.text(Array(head)).split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? $0.dropLast() : $0
        }
        guard !lines.isEmpty else { return nil }
        let requestLine = lines.removeFirst().split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard requestLine.count >= 2 else { return nil }
        let target = requestLine[1]
        let pathPart = target.prefix { $0 != "?" }
        let queryPart = target.dropFirst(pathPart.count + 1)
        var headers = HTTPHeaders()
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.add(
                String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        let query = queryPart.split(separator: "&").map { item -> (name: String, value: String) in
            let name = item.prefix { $0 != "=" }
            return (decode(name), decode(item.dropFirst(name.count + 1)))
        }
        return HTTPRequest(
            method: HTTPMethod(String(requestLine[0])), path: decode(pathPart), query: HTTPQuery(query),
            headers: headers, body: Data(body))
    }

    /// Percent-decoding as libmicrohttpd's unescaper does it (`+` is a space in the query; bad escapes stay as is).
    private static func decode(_ text: Substring) -> String {
        let plain = text.replacingOccurrences(of: "+", with: " ")
        return plain.removingPercentEncoding ?? plain
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index] == needle[0] {
            if haystack[index..<index + needle.count].elementsEqual(needle) { return index }
        }
        return nil
    }
}
