// The event schema of Vigil's streamed output (JSON lines; the same objects over SSE), per docs/events.md:
//   {"type":"status","source":"cam1","state":"live",...}
//   {"type":"error","source":"cam1","code":"rtsp_timeout","message":"...","retry_in_s":5}
//   {"type":"segment",...}  {"type":"answer",...}   (added by the streaming issues)

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

    /// The event as one JSON object in the documented schema.
    public var json: JSONValue {
        switch self {
        case .status(let s): return s.json
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

    public init(
        source: String, state: SourceState, mediaTime: Double? = nil, framesDecoded: Int? = nil,
        framesSampled: Int? = nil, dropped: Int? = nil, reconnects: Int? = nil, detail: String? = nil
    ) {
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
        return .object(members)
    }
}
