// Live sources over HTTP: add (`POST /v1/sources`), list, inspect (the C2 status object), remove; their events as
// Server-Sent Events with `Last-Event-ID` resume from the session's bounded event buffer; their captions so far as
// WebVTT, SRT, JSON lines or text; and their latest frame as PNG (the web page shows it).

import Foundation
import HTTPServer
import MediaIngest
import Memory
import Streaming
import VigilCore

/// The body of `POST /v1/sources`.
struct SourceRequest: Decodable {
    /// rtsp://, rtsps://, http(s):// or a file (absolute path or file://, inside an allowed folder).
    var url: String
    /// The id (default: generated); also the source's name in events.
    var name: String?
    /// Frames sampled per second (the `fps` setting).
    var fps: Double?
    /// A pipeline preset.
    var pipeline: String?
    /// Replay a file at its own pace.
    var realtime: Bool?
    /// Session settings by key (`window`, `cache-interval`, …).
    var options: [String: SettingText]?
    /// Standing questions to register before the source starts.
    var alerts: [AlertRequest]?
}

extension Service {
    func addSourceRoutes(to router: inout HTTPRouter) {
        router.post("/v1/sources") { [self] request in
            let model = try requireModel()
            let body = try request.decodeJSON(SourceRequest.self)
            var spec = try sourceSpec(body)
            spec.alerts = try (body.alerts ?? []).map { a throws(HTTPError) in try alertSpec(a) }
            let source = try startSource(spec, model: model)
            return .json(source.json(secrets: true), status: 201)
        }
        router.get("/v1/sources") { [self] _ in
            _ = try requireModel()
            return .json(.object([("object", .string("list")), ("data", .array(registry.all.map { $0.json() }))]))
        }
        router.get("/v1/sources/{id}") { [self] request in
            .json(try requireSource(request.pathParameters["id"] ?? "").json())
        }
        router.delete("/v1/sources/{id}") { [self] request in
            let id = request.pathParameters["id"] ?? ""
            guard await removeSource(id) else { throw APIError.unknownSource(id) }
            return .json(.object([("id", .string(id)), ("object", .string("source")), ("deleted", .bool(true))]))
        }
        router.get("/v1/sources/{id}/events") { [self] request in
            try events(of: try requireSource(request.pathParameters["id"] ?? ""), request: request)
        }
        router.get("/v1/sources/{id}/captions") { [self] request in
            try await captions(of: try requireSource(request.pathParameters["id"] ?? ""), query: request.query)
        }
        router.get("/v1/sources/{id}/frame") { [self] request in
            let source = try requireSource(request.pathParameters["id"] ?? "")
            let frame: (time: Double, png: Data)?
            do {
                frame = try source.latestFramePNG()
            } catch {
                Log.warning("source \(source.id): cannot encode the latest frame: \(error)")
                throw HTTPError.internalError()
            }
            guard let frame else { throw HTTPError.notFound("source '\(source.id)' has no frame yet") }
            var response = HTTPResponse.bytes(frame.png, contentType: "image/png")
            response.headers["Cache-Control"] = "no-store"
            response.headers["X-Vigil-Media-Time"] = String(frame.time)
            return response
        }
    }

    /// The registry entry a request asks for (settings checked when the session is made).
    func sourceSpec(_ body: SourceRequest) throws(HTTPError) -> SourceSpec {
        let id = body.name ?? Self.makeID("src_")
        guard Self.isValidSourceID(id) else {
            throw .badRequest(
                "name '\(id)': use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit")
        }
        let url = body.url.trimmingCharacters(in: .whitespaces)
        let lower = url.lowercased()
        let isNetwork = ["rtsp://", "rtsps://", "http://", "https://"].contains { lower.hasPrefix($0) }
        var location = url
        if !isNetwork {
            guard url != "-" else { throw .badRequest("url: standard input cannot be a source of the server") }
            if url.contains("://") && !lower.hasPrefix("file://") {
                throw .badRequest("url: '\(url)' is not rtsp://, rtsps://, http(s)://, file:// or an absolute path")
            }
            location = try paths.resolve(url, what: "url")
        }
        var options: [String: String] = [:]
        for (key, value) in body.options ?? [:] { options[key] = value.text }
        if let fps = body.fps { options["fps"] = String(fps) }
        return SourceSpec(
            id: id, url: location, pipeline: body.pipeline, options: options, realtime: body.realtime,
            createdAt: nowText(), trusted: false, alerts: [])
    }

    /// `GET /v1/sources/{id}/events`: the session's events as SSE (`event:` type, `id:` number, `data:` the C2
    /// object). With `Last-Event-ID` (or `?after=N`) the kept events after N come first; `?types=a,b` filters.
    func events(of source: ManagedSource, request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let hub = source.session.events
        var after: Int?
        if let text = request.lastEventID ?? request.query["after"], !text.isEmpty {
            guard let n = Int(text.trimmingCharacters(in: .whitespaces)), n >= 0 else {
                throw .badRequest("Last-Event-ID '\(text)' is not an event number of this stream")
            }
            after = n
        }
        var types: Set<String>?
        if let list = request.query["types"], !list.isEmpty {
            let known: Set<String> = ["segment", "answer", "status", "error", "alert"]
            let asked = Set(list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            if let unknown = asked.subtracting(known).first {
                throw .badRequest("types: '\(unknown)' is not one of segment, answer, status, error, alert")
            }
            types = asked
        }
        // An id above the newest is from before a restart (numbers start again at 1): replay what is kept.
        let newest = hub.nextID - 1
        var note: String?
        if let n = after, n > newest {
            note = "event \(n) is from an earlier run of this server; replaying the \(hub.events(after: nil).count) kept"
            after = 0
        } else if let n = after, let oldest = hub.events(after: n).first?.id, oldest > n + 1 {
            note = "\(oldest - n - 1) events after \(n) are no longer kept; resuming at \(oldest)"
        }
        let (resumeAfter, comment, filter) = (after, note, types)
        return .eventStream { writer in
            let stream = hub.subscribe(after: resumeAfter)
            if let comment { try writer.comment(comment) }
            for await numbered in stream {
                let type = numbered.event.type
                if let filter, !filter.contains(type) { continue }
                try writer.send(event: type, id: String(numbered.id), json: numbered.event.json)
            }
        }
    }

    /// `GET /v1/sources/{id}/captions?format=vtt|srt|jsonl|txt&since=&until=`: the text memory so far, entries
    /// overlapping [since, until].
    func captions(of source: ManagedSource, query: HTTPQuery) async throws(HTTPError) -> HTTPResponse {
        let name = query["format"] ?? "vtt"
        guard let format = CaptionFormat(rawValue: name.lowercased()) else {
            throw .badRequest("format '\(name)': use vtt, srt, jsonl or txt")
        }
        let now = source.session.currentMediaTime
        let since = try query["since"].map { t throws(HTTPError) in try MediaTimeText.parse(t, now: now, name: "since") }
        let until = try query["until"].map { t throws(HTTPError) in try MediaTimeText.parse(t, now: now, name: "until") }
        let entries = await source.session.memoryEntries().filter { entry in
            (since.map { entry.end > $0 } ?? true) && (until.map { entry.start < $0 } ?? true)
        }
        let text = CaptionWriter.render(entries, as: format, options: CaptionWriter.Options(runDetails: false))
        return .text(text, contentType: Self.contentType(of: format))
    }

    /// The media type of a caption format.
    static func contentType(of format: CaptionFormat) -> String {
        switch format {
        case .vtt: return "text/vtt; charset=utf-8"
        case .srt: return "application/x-subrip; charset=utf-8"
        case .jsonl: return "application/jsonl; charset=utf-8"
        case .txt: return "text/plain; charset=utf-8"
        }
    }
}
