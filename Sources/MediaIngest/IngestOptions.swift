// The knobs of an ingest (defaults from issue 2, docs/ingest.md) and the values it produces.

import Foundation
import VigilCore

/// RTSP lower transport.
public enum RTSPTransport: String, Sendable, CaseIterable {
    /// RTP interleaved in the RTSP TCP connection (default: survives NAT and firewalls, no packet loss).
    case tcp
    /// RTP over UDP.
    case udp
}

/// How to read a source and which frames to deliver.
public struct IngestOptions: Sendable, Equatable {
    /// Samples per second of media time (default 1).
    public var fps: Double
    /// Output picture size (default: the displayed size).
    public var size: OutputSize
    /// Replay a non-live source at its own pace, dropping the oldest frames when the consumer falls behind.
    public var realtime: Bool
    /// Network timeout in seconds: connecting, and the longest silence before a live source counts as stalled.
    public var timeout: Double
    /// Reconnection attempts after a live source drops, per outage; -1 = forever, 0 = never.
    public var reconnectAttempts: Int
    /// Longest wait between reconnection attempts, seconds (the delays are 1, 2, 4, 8, ... up to this).
    public var reconnectMaxDelay: Double
    /// RTSP transport (default TCP).
    public var rtspTransport: RTSPTransport
    /// Sampled frames buffered between the decode thread and the consumer.
    public var queueCapacity: Int
    /// Live or not; nil = decided by the source (RTSP, HLS and streaming URLs are live; files, stdin and plain
    /// HTTP downloads are not).
    public var live: Bool?
    /// The name used in events; nil = the source as given, with any password masked.
    public var sourceName: String?
    /// Decoder threads, 0 = FFmpeg's choice.
    public var decoderThreads: Int
    /// Media seconds before which frames are decoded but not sampled (a question about minute 10 of a recording
    /// needs only the frames just before it). Decoding on from the start keeps every time exact.
    public var startTime: Double = 0
    /// Seconds added to every media time reported (a resumed session's time continues where it stopped).
    public var timeOffset: Double = 0

    /// Options with the documented defaults.
    public init(
        fps: Double = 1, size: OutputSize = .displayed, realtime: Bool = false, timeout: Double = 5,
        reconnectAttempts: Int = -1, reconnectMaxDelay: Double = 30, rtspTransport: RTSPTransport = .tcp,
        queueCapacity: Int = 4, live: Bool? = nil, sourceName: String? = nil, decoderThreads: Int = 0
    ) {
        self.fps = fps
        self.size = size
        self.realtime = realtime
        self.timeout = timeout
        self.reconnectAttempts = reconnectAttempts
        self.reconnectMaxDelay = reconnectMaxDelay
        self.rtspTransport = rtspTransport
        self.queueCapacity = queueCapacity
        self.live = live
        self.sourceName = sourceName
        self.decoderThreads = decoderThreads
    }

    /// The delay before reconnection attempt `attempt` (1-based): 1, 2, 4, 8, ... seconds, capped.
    public func reconnectDelay(attempt: Int) -> Double {
        let exponent = Double(min(max(attempt - 1, 0), 30))
        return min(pow(2, exponent), max(reconnectMaxDelay, 0))
    }
}

/// One sampled frame: its number, media time, receive time (live sources) and upright RGB pixels.
public struct SampledFrame: Sendable {
    /// Sample number from 0.
    public let index: Int
    /// Media time: seconds from the first decoded video frame.
    public let time: MediaTime
    /// When the frame was received (live sources and `realtime` replays); nil for files read at full speed.
    public let wallClock: Date?
    /// The picture, upright, at the requested size.
    public let image: RGBImage
    /// Which connection of the source the frame came from: 0, then +1 after each reconnect. A change means the
    /// picture may not continue the previous one (consumers that cache across frames start afresh).
    public let segment: Int
    /// The decoded picture's displayed size (upright) before any output resize; a change is a geometry change.
    public let sourceWidth: Int
    public let sourceHeight: Int

    public init(
        index: Int, time: MediaTime, wallClock: Date?, image: RGBImage, segment: Int = 0, sourceWidth: Int? = nil,
        sourceHeight: Int? = nil
    ) {
        self.index = index
        self.time = time
        self.wallClock = wallClock
        self.image = image
        self.segment = segment
        self.sourceWidth = sourceWidth ?? image.width
        self.sourceHeight = sourceHeight ?? image.height
    }

    /// Whether this frame starts afresh relative to `previous` (a reconnect or a new picture size).
    public func isDiscontinuous(after previous: SampledFrame?) -> Bool {
        guard let previous else { return true }
        return segment != previous.segment || sourceWidth != previous.sourceWidth
            || sourceHeight != previous.sourceHeight
    }
}

/// Running totals of an ingest.
public struct IngestCounters: Sendable, Equatable {
    /// Video frames decoded.
    public var decoded = 0
    /// Frames delivered as samples (including any dropped later).
    public var sampled = 0
    /// Samples dropped because the consumer fell behind.
    public var dropped = 0
    /// Successful reconnections.
    public var reconnects = 0
    /// Stalls detected (no data within the timeout).
    public var stalls = 0
    /// How long the source had been silent when the last stall was detected, seconds.
    public var lastStallSeconds: Double?
    /// Media time of the newest decoded frame.
    public var mediaTime: Double?

    public init() {}
}
