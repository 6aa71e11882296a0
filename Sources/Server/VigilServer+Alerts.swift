// Alerts: standing questions of a source ("tell me when a person is at the door") that raise an `alert` event on
// the source's SSE stream and, with a `callback_url`, a signed webhook (Webhooks.swift). Their state (checks,
// alerts raised) is the session's as last read by the event watcher: requests never wait for the compute thread. Each alert gets its own
// secret, returned once, by the request that creates it. With a cooldown the question re-arms: one alert per event
// (the condition must be seen false again, then true at least `cooldown_s` media seconds after the last alert).

import Foundation
import HTTPServer
import Streaming
import VigilCore
import VigilCrypto

/// The body of `POST /v1/sources/{id}/alerts` (and of each entry of a source's `alerts`).
struct AlertRequest: Decodable {
    /// What to watch for: "tell me when …" or a bare condition.
    var question: String
    /// Where to POST alerts (http or https); none: SSE events only.
    var callbackURL: String?
    /// Media seconds between two alerts.
    var cooldown: Double?
    /// Media seconds between checks.
    var every: Double?

    enum CodingKeys: String, CodingKey {
        case question
        case callbackURL = "callback_url"
        case cooldown = "cooldown_s"
        case every = "every_s"
    }
}

extension Service {
    func addAlertRoutes(to router: inout HTTPRouter) {
        router.post("/v1/sources/{id}/alerts") { [self] request in
            let source = try requireSource(request.pathParameters["id"] ?? "")
            let alert = try alertSpec(try request.decodeJSON(AlertRequest.self))
            source.updateSpec { $0.alerts.append(alert) }
            source.session.watchFor(alert.question, every: alert.every, id: alert.id, cooldown: alert.cooldown)
            persistRegistry()
            return .json(
                ManagedSource.alertJSON(alert, source: source.id, standing: source.cachedStanding, secret: true),
                status: 201)
        }
        router.get("/v1/sources/{id}/alerts") { [self] request in
            let source = try requireSource(request.pathParameters["id"] ?? "")
            let standing = source.cachedStanding
            let data = source.spec.alerts.map { ManagedSource.alertJSON($0, source: source.id, standing: standing) }
            return .json(.object([("object", .string("list")), ("data", .array(data))]))
        }
        router.get("/v1/sources/{id}/alerts/{alert}") { [self] request in
            let source = try requireSource(request.pathParameters["id"] ?? "")
            let id = request.pathParameters["alert"] ?? ""
            guard let alert = source.spec.alerts.first(where: { $0.id == id }) else {
                throw APIError.unknownAlert(id, source: source.id)
            }
            return .json(ManagedSource.alertJSON(alert, source: source.id, standing: source.cachedStanding))
        }
        router.delete("/v1/sources/{id}/alerts/{alert}") { [self] request in
            let source = try requireSource(request.pathParameters["id"] ?? "")
            let id = request.pathParameters["alert"] ?? ""
            guard source.spec.alerts.contains(where: { $0.id == id }) else {
                throw APIError.unknownAlert(id, source: source.id)
            }
            source.updateSpec { $0.alerts.removeAll { $0.id == id } }
            _ = await source.session.cancelStanding(id)
            persistRegistry()
            return .json(.object([("id", .string(id)), ("object", .string("alert")), ("deleted", .bool(true))]))
        }
    }

    /// A new alert from a request: checked, with a fresh id and secret.
    func alertSpec(_ request: AlertRequest) throws(HTTPError) -> AlertSpec {
        let question = request.question.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !question.isEmpty, question.count <= 500 else {
            throw .badRequest("question: give what to watch for in 1 to 500 characters (\"tell me when a truck arrives\")")
        }
        if let callback = request.callbackURL {
            guard let url = URL(string: callback), let scheme = url.scheme?.lowercased(),
                scheme == "http" || scheme == "https", url.host?.isEmpty == false
            else {
                throw .badRequest("callback_url: '\(callback)' is not an http:// or https:// URL")
            }
        }
        let cooldown = request.cooldown ?? configuration.defaultAlertCooldown
        guard cooldown.isFinite, (0...86_400).contains(cooldown) else {
            throw .badRequest("cooldown_s: give media seconds between 0 and 86400")
        }
        if let every = request.every, !(every.isFinite && (0.5...3600).contains(every)) {
            throw .badRequest("every_s: give media seconds between 0.5 and 3600")
        }
        return AlertSpec(
            id: Self.makeID("al_"), question: question, callbackURL: request.callbackURL, cooldown: cooldown,
            every: request.every, secret: "whsec_" + SecureRandom.hexToken(byteCount: 24), createdAt: nowText())
    }
}
