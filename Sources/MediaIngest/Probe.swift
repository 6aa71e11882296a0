// `probe`: what a source holds, from the container and a few packets, without decoding it all.
//
// Rules (issue 2): `width`/`height` are the displayed size (after the display-matrix rotation); `fps` is the
// container's average rate when it gives a usable one, else the median interval of the first packets' timestamps;
// `duration` is the video stream's duration (or the container's), null when unknown or a placeholder (a fragmented
// MP4 without `mehd` states 0xFFFFFFFF ticks); `frame_count` comes from the container index only (entries an edit
// list discards and empty AVI slots are not counted), null when there is none.

import CFFmpeg
import VigilCore

/// The facts `vigil probe` reports.
public struct ProbeResult: Sendable, Equatable {
    /// The source as shown in messages.
    public var source: String
    /// FFmpeg's demuxer name ("mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "mpegts", "rtsp").
    public var container: String
    /// Video codec name ("h264", "hevc", "av1", "vp9").
    public var codec: String
    /// Displayed width (after rotation).
    public var width: Int
    /// Displayed height (after rotation).
    public var height: Int
    /// Coded width.
    public var codedWidth: Int
    /// Coded height.
    public var codedHeight: Int
    /// Display-matrix rotation in degrees as the container states it (counter-clockwise positive; -90 = show the
    /// decoded picture turned 90° clockwise).
    public var rotation: Int
    /// Frames per second; nil when unknown.
    public var fps: Double?
    /// Seconds; nil when unknown or a placeholder.
    public var duration: Double?
    /// Index of the chosen video stream.
    public var videoStream: Int
    /// Frames listed by the container index; nil when the container has none.
    public var frameCount: Int?
    /// The decoder's pixel format ("yuv420p", "yuv420p10le"), when known.
    public var pixelFormat: String?

    /// The `--json` object, keys in the documented order.
    public var json: JSONValue {
        .object([
            ("source", .string(source)),
            ("container", .string(container)),
            ("codec", .string(codec)),
            ("width", .int(width)),
            ("height", .int(height)),
            ("coded_width", .int(codedWidth)),
            ("coded_height", .int(codedHeight)),
            ("rotation", .int(rotation)),
            ("fps", .double(fps)),
            ("duration", .double(duration)),
            ("video_stream", .int(videoStream)),
            ("frame_count", .int(frameCount)),
            ("pixel_format", .string(pixelFormat)),
        ])
    }
}

/// Probes `source` (a path, `-`, or a URL). Blocks the calling thread for up to about twice `options.timeout` on a
/// network source.
public func probe(_ source: String, options: IngestOptions = IngestOptions()) throws(MediaError) -> ProbeResult {
    let parsed = MediaSource(source)
    let interrupt = InterruptState()
    let isLive = options.live ?? parsed.isLiveByDefault
    let input = try MediaInput(
        source: parsed,
        settings: OpenSettings(timeout: options.timeout, rtspTransport: options.rtspTransport, isLive: isLive),
        interrupt: interrupt)
    try input.checkDecoder()
    if input.isCutShort {
        throw .truncated(source: parsed.displayName, detail: "its index lists frames past the end of the file")
    }
    let parameters = input.parameters.pointee
    let stream = input.stream
    let (rotation, mirrored) = input.displayMatrix
    let orientation = Orientation(rotation: rotation, mirrored: mirrored)
    let codedWidth = Int(parameters.width)
    let codedHeight = Int(parameters.height)
    let shown = orientation.displayed(width: codedWidth, height: codedHeight)
    let pixelFormat = av_get_pix_fmt_name(AVPixelFormat(rawValue: parameters.format)).map { String(cString: $0) }

    var fps = ProbeTiming.usableRate(stream.pointee.avg_frame_rate)
    if fps == nil {
        fps = ProbeTiming.rateFromPackets(input, budget: options.timeout)
    }

    return ProbeResult(
        source: parsed.displayName,
        container: String(cString: input.format.pointee.iformat.pointee.name),
        codec: input.codecName,
        width: shown.width,
        height: shown.height,
        codedWidth: codedWidth,
        codedHeight: codedHeight,
        rotation: Int(rotation.rounded()) == 0 ? 0 : Int(rotation.rounded()),
        fps: fps,
        duration: ProbeTiming.duration(input),
        videoStream: Int(input.streamIndex),
        frameCount: ProbeTiming.indexedFrameCount(input),
        pixelFormat: pixelFormat)
}

/// Duration, rate and frame-count rules of `probe`.
enum ProbeTiming {
    /// A 32-bit "unknown" duration in stream ticks, as fragmented MP4 writers leave it.
    static let placeholderTicks: Int64 = 0xFFFF_FFFF

    /// The video stream's duration, else the container's; nil when unknown or when a stream states a placeholder.
    static func duration(_ input: MediaInput) -> Double? {
        let format = input.format
        var placeholder = false
        for index in 0..<Int(format.pointee.nb_streams) {
            if let stream = format.pointee.streams[index], stream.pointee.duration == placeholderTicks {
                placeholder = true
            }
        }
        let stream = input.stream.pointee
        if stream.duration != cff_nopts_value() && stream.duration > 0 && stream.duration != placeholderTicks {
            return Double(stream.duration) * av_q2d(stream.time_base)
        }
        if !placeholder && format.pointee.duration != cff_nopts_value() && format.pointee.duration > 0 {
            return Double(format.pointee.duration) / Double(AV_TIME_BASE)
        }
        return nil
    }

    /// `rate` in frames per second when it is a plausible frame rate (not 0/0, not absurd).
    static func usableRate(_ rate: AVRational) -> Double? {
        guard rate.num > 0 && rate.den > 0 else { return nil }
        let value = av_q2d(rate)
        return value > 0 && value < 1000 ? value : nil
    }

    /// Frames listed in the container index of the video stream; nil when there is no index.
    static func indexedFrameCount(_ input: MediaInput) -> Int? {
        let indexed = Int(cff_index_frame_count(input.stream))
        if indexed > 0 { return indexed }
        let stated = Int(input.stream.pointee.nb_frames)
        return stated > 0 ? stated : nil
    }

    /// The rate implied by the median interval between the first packets' timestamps (up to 2 s or 120 packets).
    static func rateFromPackets(_ input: MediaInput, budget: Double) -> Double? {
        guard let packet = av_packet_alloc() else { return nil }
        defer {
            var doomed: UnsafeMutablePointer<AVPacket>? = packet
            av_packet_free(&doomed)
        }
        let timeBase = input.timeBase
        var stamps: [Int64] = []
        input.interrupt.arm(seconds: budget)
        defer { input.interrupt.disarm() }
        while stamps.count < 120 {
            guard av_read_frame(input.format, packet) >= 0 else { break }
            defer { av_packet_unref(packet) }
            guard packet.pointee.stream_index == input.streamIndex, packet.pointee.pts != cff_nopts_value() else {
                continue
            }
            stamps.append(packet.pointee.pts)
            if let first = stamps.min(), Double(packet.pointee.pts - first) * av_q2d(timeBase) > 2 { break }
        }
        stamps.sort()
        var intervals: [Int64] = []
        for i in 1..<max(1, stamps.count) where stamps[i] > stamps[i - 1] {
            intervals.append(stamps[i] - stamps[i - 1])
        }
        guard !intervals.isEmpty else { return nil }
        intervals.sort()
        let median = intervals[intervals.count / 2]
        // den / (ticks × num), in that order, so 3750 ticks of 1/90000 s give exactly 24.
        return Double(timeBase.den) / (Double(median) * Double(timeBase.num))
    }
}
