// The routing table of `vigil serve` (docs/api.md), and the routes that are not about one area: health, metrics,
// the model list, the pipeline presets and the web page. Sources, alerts, chat completions and jobs have a file each.
//
//   GET  /health  /health/live  /health/ready      GET  /metrics          GET /v1/models   GET /v1/pipelines
//   GET  /  /ui/*                                   the web page (public, like /health*)
//   POST/GET /v1/sources   GET/DELETE /v1/sources/{id}   GET /v1/sources/{id}/events|captions|frame
//   POST/GET /v1/sources/{id}/alerts   GET/DELETE /v1/sources/{id}/alerts/{alert}
//   POST /v1/chat/completions
//   POST/GET /v1/jobs   GET/DELETE /v1/jobs/{id}   GET /v1/jobs/{id}/result

import Foundation
import HTTPServer
import OpenAIWire
import SmolVLM
import Streaming
import VigilCore

extension Service {
    /// Registers every route.
    func addRoutes(to router: inout HTTPRouter) {
        router.get("/health") { [self] _ in
            let model = modelBox.withLock { $0 }
            return .json(
                .object([
                    ("status", .string("ok")), ("ready", .bool(ready.load(ordering: .acquiring))),
                    ("model", .string(model.map { Self.publicName(of: $0) })), ("sources", .int(registry.count)),
                    ("uptime_s", .int(Int(Date().timeIntervalSince1970) - startedAt)),
                ]))
        }
        router.get("/health/live") { _ in .json(.object([("status", .string("live"))])) }
        router.get("/health/ready") { [self] _ in
            guard ready.load(ordering: .acquiring) else { throw APIError.notReady }
            return .json(.object([("status", .string("ready"))]))
        }
        router.get("/metrics") { [self] _ in metrics.registry.response() }
        router.get("/v1/models") { [self] _ in
            let model = try requireModel()
            let entries =
                [ModelList.Entry(id: Self.publicName(of: model), created: startedAt)]
                + registry.all.map { ModelList.Entry(id: "stream:" + $0.id, created: startedAt) }
            return .json(ModelList(entries).json)
        }
        router.get("/v1/pipelines") { _ in
            .json(
                .object([
                    ("object", .string("list")),
                    ("data", .array(Pipeline.available().map { .object([("name", .string($0.name))]) })),
                ]))
        }
        addWebRoutes(to: &router)
        addSourceRoutes(to: &router)
        addAlertRoutes(to: &router)
        addChatRoutes(to: &router)
        addJobRoutes(to: &router)
    }

    private func addWebRoutes(to router: inout HTTPRouter) {
        guard let webRoot else {
            let missing: HTTPHandler = { _ in
                throw HTTPError.notFound(
                    "the web page is not installed on this server (no web/ folder was found); its operator can give "
                        + "--web-root DIR")
            }
            router.get("/", missing)
            router.get("/ui/*", missing)
            return
        }
        let files = StaticFiles(directory: webRoot)
        router.get("/") { _ in files.response(forPath: "") }
        router.get("/ui/*", files.handler)
    }
}

extension Service {
    /// The model's name as clients see it: a hub id as is, a local folder or file by its last component only (the
    /// server's folders are nobody else's business).
    static func publicName(of model: VisionLanguageModel) -> String {
        let name = model.name
        let isPath = name.hasPrefix("/") || name.hasPrefix(".") || FileManager.default.fileExists(atPath: name)
        return isPath ? URL(fileURLWithPath: name).lastPathComponent : name
    }
}

extension JSONValue {
    /// An object with `members` appended (other values are returned as they are).
    func appending(_ members: [(String, JSONValue)]) -> JSONValue {
        guard case .object(let existing) = self else { return self }
        return .object(existing + members)
    }
}

/// A JSON value that may be given as a string, a number or a boolean (session settings in request bodies); kept as
/// text, the form the settings table reads.
struct SettingText: Decodable, Sendable {
    let text: String

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let string = try? c.decode(String.self) {
            text = string
        } else if let bool = try? c.decode(Bool.self) {
            text = bool ? "on" : "off"
        } else if let int = try? c.decode(Int.self) {
            text = String(int)
        } else if let double = try? c.decode(Double.self) {
            text = String(double)
        } else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "must be a string, a number or true/false")
        }
    }
}
