// Alerts end to end: a standing question on a synthetic scene cut (bars, then a hard cut at 5 s; the tiny model with
// the real tokenizer says "no" before the cut and "yes" after it) raises one alert, which reaches a loopback
// receiver as one signed POST — the HMAC-SHA256 of the body under the alert's secret checks out — and which is
// retried with backoff while the receiver is down or failing, then delivered once, with the same delivery id.

import Foundation
@testable import Server
import Streaming
import TestSupport
import Testing
import VigilCrypto

@Suite(.serialized, .holdingSerialLock) struct AlertWebhookTests {
    /// Adds source `door` (the scene cut) with one alert posting to `callback`; the created source's JSON.
    func addDoor(to server: VigilServer, callback: String) async throws -> [String: Any] {
        let body = #"{"url":"\#(ServerFixtures.clip("scene_cut.mp4"))","name":"door","#
            + #""options":{"feature-memory":"off","watch-interval":1},"#
            + #""alerts":[{"question":"tell me when the picture changed","callback_url":"\#(callback)","cooldown_s":2}]}"#
        let created = try await Curl.post(server.base + "/v1/sources", json: body)
        try #require(created.status == 201, "\(created.body)")
        return try #require(created.json)
    }

    @Test func anAlertIsOneSignedWebhookPerEvent() async throws {
        let receiver = try LoopbackHTTPServer { _ in .text("thanks") }
        defer { receiver.stop() }
        let server = try await ServerFixtures.start()
        defer { Task { await server.stop() } }
        let created = try await addDoor(to: server, callback: receiver.baseURL.absoluteString + "/hook?token=t")
        let alert = try #require((created["alerts"] as? [[String: Any]])?.first)
        let secret = try #require(alert["secret"] as? String)
        let alertID = try #require(alert["id"] as? String)
        #expect(secret.hasPrefix("whsec_"))

        #expect(await eventually { receiver.requests.count >= 1 })
        let session = try #require(server.session("door"))
        await session.waitUntilIdle()
        #expect(await eventually { server.service.webhooks.pendingCount == 0 })
        try #require(receiver.requests.count == 1, "one event, one webhook")
        let request = receiver.requests[0]
        #expect(request.method == "POST" && request.target == "/hook?token=t")
        #expect(request.header("Content-Type") == "application/json")
        #expect(request.header("X-Vigil-Event") == "alert")
        #expect(request.header("X-Vigil-Attempt") == "1")
        let signature = try #require(request.header("X-Vigil-Signature-256"))
        let expected = "sha256=" + Hex.encode(HMACSHA256.authenticationCode(for: request.body, key: Array(secret.utf8)))
        #expect(signature == expected)
        #expect(signature != "sha256=" + Hex.encode(HMACSHA256.authenticationCode(for: request.body, key: [UInt8(1)])))
        let payload = try #require((try? JSONSerialization.jsonObject(with: request.body)) as? [String: Any])
        #expect(payload["type"] as? String == "alert")
        #expect(payload["alert_id"] as? String == alertID)
        #expect(payload["source"] as? String == "door")
        #expect(payload["condition"] as? String == "the picture changed")
        #expect(payload["media_time"] as? Double == 5)
        #expect(payload["answer"] as? String == "yes")
        #expect((payload["evidence"] as? [[String: Any]])?.isEmpty == false)
        #expect((payload["delivery"] as? String) == request.header("X-Vigil-Delivery"))

        // The alert's state (as the event watcher last read it), and the secret is not shown again.
        #expect(await eventually {
            let alert = try? await Curl.run(server.base + "/v1/sources/door/alerts/\(alertID)").json
            return alert?["alerts_raised"] as? Int == 1 && alert?["last_alert_at"] as? Double == 5
        })
        let listed = try await Curl.run(server.base + "/v1/sources/door/alerts/\(alertID)")
        #expect(listed.json?["secret"] == nil)
        #expect(!listed.body.contains(secret))
        let metrics = try await Curl.run(server.base + "/metrics")
        #expect(metrics.body.contains(#"vigil_webhook_deliveries_total{result="delivered"} 1"#))
        #expect(metrics.body.contains(#"vigil_alerts_total{source="door"} 1"#))
        let removed = try await Curl.run(server.base + "/v1/sources/door/alerts/\(alertID)", ["-X", "DELETE"])
        #expect(removed.status == 200)
        #expect(try await Curl.run(server.base + "/v1/sources/door/alerts").json?["data"] as? [Any] != nil)
    }

    @Test func aWebhookIsRetriedWhileTheReceiverIsDown() async throws {
        let port = UInt16(try freeTCPPort())
        let server = try await ServerFixtures.start()
        defer { Task { await server.stop() } }
        _ = try await addDoor(to: server, callback: "http://127.0.0.1:\(port)/hook")
        // Nothing listens: tries fail and are retried.
        let metrics = server.service.metrics.webhookDeliveries
        #expect(await eventually { metrics.value(labels: ["result": "retried"]) >= 2 })
        #expect(metrics.value(labels: ["result": "delivered"]) == 0)
        // The receiver comes up, fails once more with 503, then takes it.
        let answered = Counter()
        let receiver = try LoopbackHTTPServer(port: port) { _ in
            answered.next() == 0 ? .text("busy", status: 503) : .text("ok")
        }
        defer { receiver.stop() }
        #expect(await eventually { metrics.value(labels: ["result": "delivered"]) == 1 })
        #expect(receiver.requests.count == 2)
        let deliveries = Set(receiver.requests.compactMap { $0.header("X-Vigil-Delivery") })
        #expect(deliveries.count == 1, "every try of one alert has the same delivery id")
        let attempts = receiver.requests.compactMap { $0.header("X-Vigil-Attempt").flatMap { Int($0) } }
        #expect(attempts.count == 2 && attempts[0] >= 3 && attempts[1] == attempts[0] + 1)
        #expect(receiver.requests[0].body == receiver.requests[1].body)
    }
}

/// Counts calls, thread-safe.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    /// The number of earlier calls.
    func next() -> Int {
        lock.withLock {
            defer { value += 1 }
            return value
        }
    }
}
