// Alert webhooks: each alert of a standing question with a `callback_url` is POSTed there as JSON, signed with the
// alert's secret, and retried with exponential backoff until the receiver answers 2xx (or a 4xx that retrying cannot
// fix), or the tries run out. Every try of one alert carries the same `X-Vigil-Delivery` id, so a receiver that got
// a try whose answer was lost can drop the repeat.
//
//   POST <callback_url>
//   Content-Type: application/json
//   X-Vigil-Event: alert
//   X-Vigil-Delivery: dlv_3f9c…                 (the same on every try of this alert)
//   X-Vigil-Attempt: 1                          (1, 2, …)
//   X-Vigil-Signature-256: sha256=<hex>          HMAC-SHA256 of the raw body, key = the alert's secret (UTF-8)
//
//   {"type":"alert","delivery":"dlv_…","alert_id":"al_…","source":"cam1","question":"tell me when …",
//    "condition":"…","media_time":125.0,"wall_time":"2026-…Z","answer":"yes","evidence":[{"start":124,"end":125}],
//    "event_id":42}
//
// Deliveries run on Swift concurrency (URLSession, FoundationNetworking), never on the compute thread; pending
// retries are cancelled when the server stops (they are not persisted).

import Foundation
import Synchronization
import VigilCore
import VigilCrypto

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Delivers alert webhooks.
final class WebhookSender: Sendable {
    let settings: WebhookSettings
    let metrics: ServerMetrics
    private let session: URLSession
    private let tasks = Mutex<[String: Task<Void, Never>]>([:])

    init(settings: WebhookSettings, metrics: ServerMetrics) {
        self.settings = settings
        self.metrics = metrics
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = settings.timeout
        configuration.timeoutIntervalForResource = settings.timeout
        configuration.urlCache = nil
        configuration.httpShouldSetCookies = false
        session = URLSession(configuration: configuration)
    }

    /// The JSON body of the webhook for `event` (alert `alert` of source `source`, event number `eventID`).
    static func body(alert: AlertSpec, event: AlertEvent, source: String, eventID: Int, delivery: String) -> Data {
        let json = JSONValue.object([
            ("type", .string("alert")), ("delivery", .string(delivery)), ("alert_id", .string(alert.id)),
            ("source", .string(source)), ("question", .string(alert.question)), ("condition", .string(event.condition)),
            ("media_time", .double(event.at)), ("wall_time", .string(WallTime.format(event.wallTime))),
            ("answer", .string(event.answer)), ("evidence", .array(event.evidence.map(\.json))),
            ("event_id", .int(eventID)),
        ])
        return Data(json.serialized().utf8)
    }

    /// `sha256=<hex>`: the signature header's value for `body` under `secret`.
    static func signature(of body: Data, secret: String) -> String {
        "sha256=" + Hex.encode(HMACSHA256.authenticationCode(for: body, key: Array(secret.utf8)))
    }

    /// Starts delivering `event` to the alert's callback (nothing when it has none).
    func deliver(_ event: AlertEvent, alert: AlertSpec, source: String, eventID: Int) {
        guard let callback = alert.callbackURL, let url = URL(string: callback) else { return }
        let delivery = "dlv_" + SecureRandom.hexToken(byteCount: 12)
        let body = Self.body(alert: alert, event: event, source: source, eventID: eventID, delivery: delivery)
        let signature = Self.signature(of: body, secret: alert.secret)
        let task = Task { [weak self] in
            guard let self else { return }
            await self.run(url: url, body: body, signature: signature, delivery: delivery, alert: alert.id)
            _ = self.tasks.withLock { $0.removeValue(forKey: delivery) }
        }
        tasks.withLock { $0[delivery] = task }
    }

    /// Deliveries still trying.
    var pendingCount: Int { tasks.withLock { $0.count } }

    /// Cancels every pending delivery.
    func stop() {
        for task in tasks.withLock({ Array($0.values) }) { task.cancel() }
    }

    private func run(url: URL, body: Data, signature: String, delivery: String, alert: String) async {
        for attempt in 1...max(1, settings.attempts) {
            var request = URLRequest(url: url, timeoutInterval: settings.timeout)
            request.httpMethod = "POST"
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.setValue("alert", forHTTPHeaderField: "X-Vigil-Event")
            request.setValue(delivery, forHTTPHeaderField: "X-Vigil-Delivery")
            request.setValue(String(attempt), forHTTPHeaderField: "X-Vigil-Attempt")
            request.setValue(signature, forHTTPHeaderField: "X-Vigil-Signature-256")
            request.setValue("vigil-webhook/1", forHTTPHeaderField: "User-Agent")
            let outcome: String
            do {
                let (_, response) = try await session.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                if (200..<300).contains(status) {
                    metrics.webhookDeliveries.increment(labels: ["result": "delivered"])
                    return
                }
                // A 4xx other than 408/429 will not change by trying again.
                if (400..<500).contains(status) && status != 408 && status != 429 {
                    Log.warning("alert \(alert): webhook \(Self.origin(url)) answered \(status); not retried")
                    metrics.webhookDeliveries.increment(labels: ["result": "failed"])
                    return
                }
                outcome = "answered \(status)"
            } catch {
                if Task.isCancelled { return }
                outcome = "failed (\(error.localizedDescription))"
            }
            guard attempt < settings.attempts else {
                Log.warning("alert \(alert): webhook \(Self.origin(url)) \(outcome); gave up after \(attempt) tries")
                metrics.webhookDeliveries.increment(labels: ["result": "failed"])
                return
            }
            metrics.webhookDeliveries.increment(labels: ["result": "retried"])
            let wait = settings.delay(after: attempt) * Double.random(in: 0.9...1.1)
            Log.debug("alert \(alert): webhook try \(attempt) \(outcome); next in \(wait) s")
            do {
                try await Task.sleep(nanoseconds: UInt64(wait * 1e9))
            } catch {
                return
            }
        }
    }

    /// `scheme://host:port` of `url`, for logs (no path or query, which may hold tokens).
    static func origin(_ url: URL) -> String {
        "\(url.scheme ?? "http")://\(url.host ?? "?")" + (url.port.map { ":\($0)" } ?? "")
    }
}
