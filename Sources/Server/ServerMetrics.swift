// The Prometheus metrics of `GET /metrics` (names of ../shared/briefs/peers.md §C4, plus the server's own). Counts a
// session keeps as running totals (frames decoded, sampled, dropped; reconnects) become counters by adding what
// grew since the last scrape; gauges are read from each source's status snapshot when scraped; answers are observed
// as they finish (time to first token and answer time histograms). Per-source series carry a `source` label, so a
// scrape shows which source is behind.

import Foundation
import HTTPServer
import Streaming
import Synchronization
import VigilCore

/// The server's metrics.
final class ServerMetrics: Sendable {
    let registry = MetricsRegistry()

    let framesDecoded: CounterMetric
    let framesSampled: CounterMetric
    let framesDropped: CounterMetric
    let ingestLag: GaugeMetric
    let vitTokensReused: GaugeMetric
    let visualTokensKept: GaugeMetric
    let kvTokens: GaugeMetric
    let residentMemory: GaugeMetric
    let ttft: HistogramMetric
    let answerDuration: HistogramMetric
    let decodeRate: GaugeMetric
    let prefillRate: GaugeMetric
    let reconnects: CounterMetric
    let segments: CounterMetric
    let questions: CounterMetric
    let questionsQueued: GaugeMetric
    let sources: GaugeMetric
    let httpStreams: GaugeMetric
    let eventSubscribers: GaugeMetric
    let alerts: CounterMetric
    let webhookDeliveries: CounterMetric
    let jobs: GaugeMetric
    let modelLoaded: GaugeMetric

    /// Running totals seen at the last scrape, per source.
    private let seen = Mutex<[String: [String: Int]]>([:])

    init() {
        let r = registry
        framesDecoded = r.counter(
            "vigil_frames_decoded_total", help: "Frames decoded from the source.", labelNames: ["source"])
        framesSampled = r.counter(
            "vigil_frames_sampled_total", help: "Frames sampled for the model.", labelNames: ["source"])
        framesDropped = r.counter(
            "vigil_frames_dropped_total",
            help: "Frames dropped: at ingest (the pump was behind), lag (the encoder was behind), room (no cache room).",
            labelNames: ["source", "reason"])
        ingestLag = r.gauge(
            "vigil_ingest_lag_seconds", help: "Media seconds between the newest decoded frame and the newest in the cache.",
            labelNames: ["source"])
        vitTokensReused = r.gauge(
            "vigil_vit_tokens_reused_ratio", help: "Share of vision FLOPs saved by the STC-Cacher's reuse.",
            labelNames: ["source"])
        visualTokensKept = r.gauge(
            "vigil_visual_tokens_kept_ratio", help: "Share of visual tokens the STC-Pruner keeps.", labelNames: ["source"])
        kvTokens = r.gauge("vigil_kv_tokens", help: "Tokens in the KV cache by block kind.", labelNames: ["source", "tier"])
        residentMemory = r.gauge("vigil_process_resident_memory_bytes", help: "Resident memory of the process.")
        ttft = r.histogram(
            "vigil_question_ttft_seconds", help: "Time from a question's arrival to its first answer token.",
            buckets: [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30])
        answerDuration = r.histogram(
            "vigil_question_duration_seconds", help: "Time from a question's arrival to the end of its answer.",
            buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120])
        decodeRate = r.gauge(
            "vigil_decode_tokens_per_second", help: "Answer tokens per second after the first (the latest answer).")
        prefillRate = r.gauge(
            "vigil_prefill_tokens_per_second", help: "Tokens prefilled per second of prefill, all sources so far.")
        reconnects = r.counter(
            "vigil_rtsp_reconnects_total", help: "Reconnections of network sources.", labelNames: ["source"])
        segments = r.counter("vigil_segments_total", help: "Segment events (captions, summaries, commentary).")
        questions = r.counter(
            "vigil_questions_total", help: "Questions by outcome: answered, failed, rejected (queue full).",
            labelNames: ["result"])
        questionsQueued = r.gauge(
            "vigil_questions_queued", help: "Questions waiting or being answered.", labelNames: ["source"])
        sources = r.gauge("vigil_sources", help: "Sources by state.", labelNames: ["state"])
        httpStreams = r.gauge("vigil_http_streams_open", help: "Open streamed responses (SSE and streamed answers).")
        eventSubscribers = r.gauge(
            "vigil_event_subscribers", help: "Subscribers of a source's events.", labelNames: ["source"])
        alerts = r.counter("vigil_alerts_total", help: "Alerts raised by standing questions.", labelNames: ["source"])
        webhookDeliveries = r.counter(
            "vigil_webhook_deliveries_total",
            help: "Webhook tries by result: delivered, retried (a try failed, another follows), failed (gave up).",
            labelNames: ["result"])
        jobs = r.gauge("vigil_jobs", help: "Captioning jobs by state.", labelNames: ["state"])
        modelLoaded = r.gauge("vigil_model_loaded", help: "1 once the model is loaded.")
        for result in ["answered", "failed", "rejected"] { questions.increment(by: 0, labels: ["result": result]) }
        for result in ["delivered", "retried", "failed"] { webhookDeliveries.increment(by: 0, labels: ["result": result]) }
    }

    /// Records a finished answer.
    func observe(_ answer: AnswerEvent) {
        guard answer.error == nil else {
            questions.increment(labels: ["result": "failed"])
            return
        }
        questions.increment(labels: ["result": "answered"])
        ttft.observe(answer.ttftMs / 1000)
        answerDuration.observe(answer.totalMs / 1000)
        if let tokens = answer.tokens, tokens > 1, answer.totalMs > answer.ttftMs {
            decodeRate.set(Double(tokens - 1) / ((answer.totalMs - answer.ttftMs) / 1000))
        }
    }

    /// Reads every source's status into the per-source series (called at each scrape).
    func collect(sources list: [ManagedSource], openStreams: Int, jobStates: [String: Int]) {
        residentMemory.set(Double(ProcessMemory.residentBytes))
        httpStreams.set(Double(openStreams))
        var states: [String: Int] = [:]
        for state in ["connecting", "live", "reconnecting", "ended", "failed"] { states[state] = 0 }
        var prefillTokens = 0
        var prefillSeconds = 0.0
        for source in list {
            let s = source.session.status
            let labels = ["source": source.id]
            states[s.state.rawValue, default: 0] += 1
            let totals: [String: Int] = [
                "decoded": s.framesDecoded, "sampled": s.framesSampled, "ingest": s.framesDroppedIngest,
                "lag": s.counters.framesDroppedLag, "room": s.engine.framesSkippedForRoom, "reconnects": s.reconnects,
            ]
            let grown = seen.withLock { seen -> [String: Int] in
                let before = seen[source.id] ?? [:]
                seen[source.id] = totals
                var grown: [String: Int] = [:]
                for (key, value) in totals { grown[key] = max(0, value - (before[key] ?? 0)) }
                return grown
            }
            framesDecoded.increment(by: Double(grown["decoded"] ?? 0), labels: labels)
            framesSampled.increment(by: Double(grown["sampled"] ?? 0), labels: labels)
            for reason in ["ingest", "lag", "room"] {
                framesDropped.increment(by: Double(grown[reason] ?? 0), labels: ["source": source.id, "reason": reason])
            }
            reconnects.increment(by: Double(grown["reconnects"] ?? 0), labels: labels)
            ingestLag.set(s.lagSeconds, labels: labels)
            vitTokensReused.set(s.engine.visionFLOPsSaved, labels: labels)
            let kept = s.engine.tokensSeen > 0 ? Double(s.engine.tokensKept) / Double(s.engine.tokensSeen) : 1
            visualTokensKept.set(kept, labels: labels)
            for (tier, count) in s.kvByKind { kvTokens.set(Double(count), labels: ["source": source.id, "tier": tier]) }
            questionsQueued.set(Double(source.gate.count), labels: labels)
            eventSubscribers.set(Double(source.session.events.subscriberCount), labels: labels)
            prefillTokens += s.engine.prefillTokens
            prefillSeconds += s.engine.prefillSeconds
        }
        if prefillSeconds > 0 { prefillRate.set(Double(prefillTokens) / prefillSeconds) }
        for (state, count) in states { sources.set(Double(count), labels: ["state": state]) }
        for (state, count) in jobStates { jobs.set(Double(count), labels: ["state": state]) }
    }

    /// Drops a removed source's gauges and running totals.
    func forget(source id: String, tiers: [String]) {
        _ = seen.withLock { $0.removeValue(forKey: id) }
        let labels = ["source": id]
        for gauge in [ingestLag, vitTokensReused, visualTokensKept, questionsQueued, eventSubscribers] {
            gauge.remove(labels: labels)
        }
        for tier in tiers { kvTokens.remove(labels: ["source": id, "tier": tier]) }
    }
}
