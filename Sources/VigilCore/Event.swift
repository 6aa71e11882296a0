// The event schema of Vigil's streamed output (JSON lines; the same objects over SSE), per docs/events.md:
//   {"type":"status","source":"cam1","state":"live",...}
//   {"type":"error","source":"cam1","code":"rtsp_timeout","message":"...","retry_in_s":5}
//   {"type":"segment",...}  {"type":"answer",...}   (added by the streaming issues)

import Foundation

/// The state a source reports in a status event.
public enum SourceState: String, Sendable {
    case connecting, live, reconnecting, ended, failed
}

/// One event of Vigil's JSON-lines stream.
public enum VigilEvent: Sendable {
    /// A source changed state or reports its counters.
    case status(StatusEvent)
    /// Something went wrong with a source; `retryIn` is set when Vigil will try again.
    case error(source: String, code: String, message: String, retryIn: Double?)
    /// Text about a span of the stream (commentary, a caption).
    case segment(SegmentEvent)
    /// A question's answer.
    case answer(AnswerEvent)
    /// A standing question ("tell me when …") came true.
    case alert(AlertEvent)

    /// The event's `type` field.
    public var type: String {
        switch self {
        case .status: return "status"
        case .error: return "error"
        case .segment: return "segment"
        case .answer: return "answer"
        case .alert: return "alert"
        }
    }

    /// The event as one JSON object in the documented schema.
    public var json: JSONValue {
        switch self {
        case .status(let s): return s.json
        case .segment(let s): return s.json
        case .answer(let a): return a.json
        case .alert(let a): return a.json
        case .error(let source, let code, let message, let retryIn):
            var members: [(String, JSONValue)] = [
                ("type", .string("error")), ("source", .string(source)), ("code", .string(code)),
                ("message", .string(message)),
            ]
            if let retryIn { members.append(("retry_in_s", .double(retryIn))) }
            return .object(members)
        }
    }
}

/// RFC 3339 UTC with milliseconds ("2026-05-30T01:41:25.000Z"), the form of `wall_start` and other wall times.
public enum WallTime {
    public static func format(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let seconds = ms / 1000
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ v: Int32, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(ms % 1000), 3))Z"
    }
}

/// A time range of the stream, media seconds.
public struct TimeSpan: Sendable, Equatable, Codable {
    public var start: Double
    public var end: Double
    public init(start: Double, end: Double) {
        self.start = start
        self.end = end
    }
    public var json: JSONValue { .object([("start", .double(start)), ("end", .double(end))]) }
}

/// Text about a span of the stream: `{"type":"segment","source":…,"start":…,"end":…,"text":…}`.
public struct SegmentEvent: Sendable {
    public var source: String
    public var start: Double
    public var end: Double
    public var wallStart: Date?
    public var text: String
    public var model: String?
    public var latencyMs: Double?
    /// What produced it ("commentary", "caption", "summary").
    public var kind: String?

    public init(
        source: String, start: Double, end: Double, wallStart: Date? = nil, text: String, model: String? = nil,
        latencyMs: Double? = nil, kind: String? = nil
    ) {
        self.source = source
        self.start = start
        self.end = end
        self.wallStart = wallStart
        self.text = text
        self.model = model
        self.latencyMs = latencyMs
        self.kind = kind
    }

    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("type", .string("segment")), ("source", .string(source)), ("start", .double(start)),
            ("end", .double(end)),
        ]
        if let wallStart { members.append(("wall_start", .string(WallTime.format(wallStart)))) }
        members.append(("text", .string(text)))
        if let kind { members.append(("kind", .string(kind))) }
        if let model { members.append(("model", .string(model))) }
        if let latencyMs { members.append(("latency_ms", .double(latencyMs.rounded()))) }
        return .object(members)
    }
}

/// An answered question: `{"type":"answer","id":…,"asked_at":…,"question":…,"text":…,"ttft_ms":…,…}`.
public struct AnswerEvent: Sendable {
    public var id: String
    public var source: String
    /// Media time at which the question was asked.
    public var askedAt: Double
    public var question: String
    public var text: String
    public var ttftMs: Double
    public var totalMs: Double
    /// The spans of the stream the answer could see (window frames, retrieved frames, captions).
    public var evidence: [TimeSpan]
    /// Tokens generated, and why generation stopped.
    public var tokens: Int?
    public var stopReason: String?
    /// Error text when the question could not be answered.
    public var error: String?

    public init(
        id: String, source: String, askedAt: Double, question: String, text: String, ttftMs: Double, totalMs: Double,
        evidence: [TimeSpan], tokens: Int? = nil, stopReason: String? = nil, error: String? = nil
    ) {
        self.id = id
        self.source = source
        self.askedAt = askedAt
        self.question = question
        self.text = text
        self.ttftMs = ttftMs
        self.totalMs = totalMs
        self.evidence = evidence
        self.tokens = tokens
        self.stopReason = stopReason
        self.error = error
    }

    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("type", .string("answer")), ("id", .string(id)), ("source", .string(source)),
            ("asked_at", .double(askedAt)), ("question", .string(question)), ("text", .string(text)),
            ("ttft_ms", .double(ttftMs.rounded())), ("total_ms", .double(totalMs.rounded())),
            ("evidence", .array(evidence.map(\.json))),
        ]
        if let tokens { members.append(("tokens", .int(tokens))) }
        if let stopReason { members.append(("stop_reason", .string(stopReason))) }
        if let error { members.append(("error", .string(error))) }
        return .object(members)
    }
}

/// A standing question that came true: `{"type":"alert","id":…,"source":…,"condition":…,"at":…,"answer":…}`.
public struct AlertEvent: Sendable {
    public var id: String
    public var source: String
    public var condition: String
    /// Media time at which it was seen to be true.
    public var at: Double
    public var wallTime: Date
    public var answer: String
    public var evidence: [TimeSpan]

    public init(
        id: String, source: String, condition: String, at: Double, wallTime: Date = Date(), answer: String,
        evidence: [TimeSpan]
    ) {
        self.id = id
        self.source = source
        self.condition = condition
        self.at = at
        self.wallTime = wallTime
        self.answer = answer
        self.evidence = evidence
    }

    public var json: JSONValue {
        .object([
            ("type", .string("alert")), ("id", .string(id)), ("source", .string(source)),
            ("condition", .string(condition)), ("at", .double(at)), ("wall_time", .string(WallTime.format(wallTime))),
            ("answer", .string(answer)), ("evidence", .array(evidence.map(\.json))),
        ])
    }
}

/// A status event: the source's state plus whatever counters are known.
public struct StatusEvent: Sendable {
    public var source: String
    public var state: SourceState
    /// Media time of the newest frame, seconds.
    public var mediaTime: Double?
    /// Frames decoded so far.
    public var framesDecoded: Int?
    /// Frames sampled so far.
    public var framesSampled: Int?
    /// Frames dropped because the consumer fell behind.
    public var dropped: Int?
    /// Reconnections so far.
    public var reconnects: Int?
    /// A short human-readable note ("stalled for 5.0 s", "end of file").
    public var detail: String?
    /// A live session's figures (nil for a bare ingest).
    public var session: SessionFigures?

    public init(
        source: String, state: SourceState, mediaTime: Double? = nil, framesDecoded: Int? = nil,
        framesSampled: Int? = nil, dropped: Int? = nil, reconnects: Int? = nil, detail: String? = nil,
        session: SessionFigures? = nil
    ) {
        self.session = session
        self.source = source
        self.state = state
        self.mediaTime = mediaTime
        self.framesDecoded = framesDecoded
        self.framesSampled = framesSampled
        self.dropped = dropped
        self.reconnects = reconnects
        self.detail = detail
    }

    /// The event as JSON; unknown counters are left out.
    public var json: JSONValue {
        var members: [(String, JSONValue)] = [
            ("type", .string("status")), ("source", .string(source)), ("state", .string(state.rawValue)),
        ]
        if let mediaTime { members.append(("media_time", .double(mediaTime))) }
        if let framesDecoded { members.append(("frames_decoded", .int(framesDecoded))) }
        if let framesSampled { members.append(("frames_sampled", .int(framesSampled))) }
        if let dropped { members.append(("dropped", .int(dropped))) }
        if let reconnects { members.append(("reconnects", .int(reconnects))) }
        if let detail { members.append(("detail", .string(detail))) }
        if let session { members += session.members }
        return .object(members)
    }
}

/// What a live session adds to its status events.
public struct SessionFigures: Sendable, Equatable {
    /// Decoded frames per second, sampled per second, processed per second (recent).
    public var fpsIn: Double
    public var fpsSampled: Double
    public var fpsProcessed: Double
    /// How far processing is behind the stream (seconds).
    public var lagSeconds: Double
    /// Frames processed (encoded and in the cache) so far.
    public var framesProcessed: Int
    /// KV tokens in total and per block kind.
    public var kvTokens: Int
    public var kvByKind: [(String, Int)]
    /// Bytes held by the retrieval store, and its blocks.
    public var retrievalBytes: Int
    public var retrievalBlocks: Int
    /// Share of vision FLOPs the cacher saved so far (0 … 1), and visual tokens kept by the pruner.
    public var visionFLOPsSaved: Double
    public var visualTokensKeptRatio: Double
    /// Questions answered and waiting.
    public var questionsAnswered: Int
    public var questionsPending: Int
    /// Resident memory of the process.
    public var rssBytes: Int

    public init(
        fpsIn: Double, fpsSampled: Double, fpsProcessed: Double, lagSeconds: Double, framesProcessed: Int,
        kvTokens: Int, kvByKind: [(String, Int)], retrievalBytes: Int, retrievalBlocks: Int, visionFLOPsSaved: Double,
        visualTokensKeptRatio: Double, questionsAnswered: Int, questionsPending: Int, rssBytes: Int
    ) {
        self.fpsIn = fpsIn
        self.fpsSampled = fpsSampled
        self.fpsProcessed = fpsProcessed
        self.lagSeconds = lagSeconds
        self.framesProcessed = framesProcessed
        self.kvTokens = kvTokens
        self.kvByKind = kvByKind
        self.retrievalBytes = retrievalBytes
        self.retrievalBlocks = retrievalBlocks
        self.visionFLOPsSaved = visionFLOPsSaved
        self.visualTokensKeptRatio = visualTokensKeptRatio
        self.questionsAnswered = questionsAnswered
        self.questionsPending = questionsPending
        self.rssBytes = rssBytes
    }

    public static func == (a: SessionFigures, b: SessionFigures) -> Bool {
        JSONValue.object(a.members) == JSONValue.object(b.members)
    }

    var members: [(String, JSONValue)] {
        func round3(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }
        return [
            ("fps_in", .double(round3(fpsIn))), ("fps_sampled", .double(round3(fpsSampled))),
            ("fps_processed", .double(round3(fpsProcessed))), ("lag_s", .double(round3(lagSeconds))),
            ("frames_processed", .int(framesProcessed)), ("kv_tokens", .int(kvTokens)),
            ("kv_by_kind", .object(kvByKind.map { ($0.0, .int($0.1)) })),
            ("retrieval_bytes", .int(retrievalBytes)), ("retrieval_blocks", .int(retrievalBlocks)),
            ("vision_flops_saved", .double(round3(visionFLOPsSaved))),
            ("visual_tokens_kept", .double(round3(visualTokensKeptRatio))),
            ("questions_answered", .int(questionsAnswered)), ("questions_pending", .int(questionsPending)),
            ("rss_bytes", .int(rssBytes)),
        ]
    }
}
