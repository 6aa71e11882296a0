// One opened source: libavformat's demuxer, the video stream `av_find_best_stream` picks (never "stream 0", never
// "the largest") and its libavcodec decoder, with the call sequence
//   avformat_alloc_context → interrupt callback → avformat_open_input → avformat_find_stream_info →
//   av_find_best_stream → avcodec_alloc_context3 → avcodec_parameters_to_context → avcodec_open2 →
//   (av_read_frame → avcodec_send_packet → avcodec_receive_frame)* → drain with a NULL packet.
// Every blocking call runs under the interrupt callback (abort flag + per-call deadline, see FFmpeg.swift).
// A `MediaInput` belongs to one thread; it is not Sendable.

import CFFmpeg
import Foundation

/// How to open a source.
struct OpenSettings {
    /// Network timeout in seconds (connect, each read, probing).
    var timeout: Double = 5
    /// RTSP lower transport.
    var rtspTransport: RTSPTransport = .tcp
    /// Whether the source is live: reads then run under a deadline of `timeout` (stall detection).
    var isLive = false
    /// Decoder threads (0 = FFmpeg's choice).
    var decoderThreads = 0
}

/// Why reading stopped.
enum InputEnd: Equatable {
    /// The demuxer reported the end (for a live source: the server closed the connection).
    case endOfStream
    /// `InterruptState.abort()` was called.
    case aborted
    /// No data arrived for `seconds` (the read deadline expired).
    case stalled(seconds: Double)
    /// av_read_frame failed with `code`.
    case readError(Int32)
}

/// An open demuxer plus the decoder of its best video stream.
final class MediaInput {
    let source: MediaSource
    let settings: OpenSettings
    let interrupt: InterruptState
    private(set) var format: UnsafeMutablePointer<AVFormatContext>
    /// Index of the chosen video stream.
    let streamIndex: Int32
    /// The chosen video stream.
    let stream: UnsafeMutablePointer<AVStream>
    private var decoder: UnsafeMutablePointer<AVCodecContext>?
    private var packet: UnsafeMutablePointer<AVPacket>
    /// The most recently decoded frame (valid until the next `nextFrame()`).
    let frame: UnsafeMutablePointer<AVFrame>
    private var draining = false
    private var pendingEnd: InputEnd?
    private(set) var endReason: InputEnd?
    /// Packets the decoder rejected (corrupt data); reading continues past them.
    private(set) var rejectedPackets = 0
    /// Monotonic time of the last packet that arrived on its own (not one flushed out by an interrupted read).
    private var lastDataAt = FFmpeg.now()

    /// Opens `source`, probes it and selects its video stream (the decoder opens with `openDecoder()`).
    init(source: MediaSource, settings: OpenSettings, interrupt: InterruptState) throws(MediaError) {
        FFmpeg.prepare()
        self.source = source
        self.settings = settings
        self.interrupt = interrupt
        if let path = source.path {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw .fileNotFound(path: source.displayName)
            }
            if isDirectory.boolValue { throw .notMediaFile(source: source.displayName) }
        }
        guard var context = avformat_alloc_context() else {
            throw .readFailed(source: source.displayName, reason: "out of memory")
        }
        context.pointee.interrupt_callback = interrupt.callback
        var options: OpaquePointer?
        defer { av_dict_free(&options) }
        let micros = String(Int64(settings.timeout * 1_000_000))
        switch source.kind {
        case .rtsp:
            av_dict_set(&options, "rtsp_transport", settings.rtspTransport.rawValue, 0)
            av_dict_set(&options, "timeout", micros, 0)
        case .http, .otherURL:
            av_dict_set(&options, "timeout", micros, 0)
            av_dict_set(&options, "rw_timeout", micros, 0)
        case .file, .standardInput:
            break
        }
        if settings.isLive {
            // Probe half a second of a live stream rather than FFmpeg's 5 s: frames flow sooner and probing stays
            // well inside the timeout.
            av_dict_set(&options, "analyzeduration", "500000", 0)
        }

        var opened: UnsafeMutablePointer<AVFormatContext>? = context
        // A local file gets a deadline too: a damaged or hostile file must not keep the demuxer busy for ever.
        let isFile = source.kind == .file
        if source.isNetwork {
            interrupt.arm(seconds: settings.timeout)
        } else if isFile {
            interrupt.arm(seconds: MediaLimits.fileOpenSeconds)
        }
        let openCode = avformat_open_input(&opened, source.ffmpegURL, nil, &options)
        let openExpired = interrupt.hasExpired
        interrupt.disarm()
        guard openCode >= 0, let openedContext = opened else {
            if interrupt.isAborted { throw .readFailed(source: source.displayName, reason: "stopped") }
            if isFile && openExpired {
                throw .limitExceeded(
                    source: source.displayName,
                    detail: "took more than \(formatSeconds(MediaLimits.fileOpenSeconds)) to open")
            }
            throw MediaError.classifyOpen(
                openCode, source: source, timeout: settings.timeout, deadlineExpired: openExpired)
        }
        context = openedContext
        format = context

        if settings.isLive {
            interrupt.arm(seconds: settings.timeout + 0.5)
        } else if isFile {
            interrupt.arm(seconds: MediaLimits.fileOpenSeconds)
        }
        let infoCode = avformat_find_stream_info(context, nil)
        let infoExpired = interrupt.hasExpired
        interrupt.disarm()
        if infoCode < 0 || (isFile && infoExpired) {
            var doomed: UnsafeMutablePointer<AVFormatContext>? = context
            avformat_close_input(&doomed)
            if interrupt.isAborted { throw .readFailed(source: source.displayName, reason: "stopped") }
            if isFile && infoExpired {
                throw .limitExceeded(
                    source: source.displayName,
                    detail: "took more than \(formatSeconds(MediaLimits.fileOpenSeconds)) to probe")
            }
            if infoExpired { throw .timedOut(source: source.displayName, seconds: settings.timeout) }
            throw MediaError.classifyOpen(
                infoCode, source: source, timeout: settings.timeout, deadlineExpired: false)
        }

        let best = av_find_best_stream(context, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard best >= 0, let chosen = context.pointee.streams[Int(best)],
            chosen.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC == 0
        else {
            let contents = Self.describeStreams(context)
            var doomed: UnsafeMutablePointer<AVFormatContext>? = context
            avformat_close_input(&doomed)
            throw .noVideoStream(source: source.displayName, contents: contents)
        }
        streamIndex = best
        stream = chosen
        // Only the chosen stream's packets are wanted: the demuxer skips the rest cheaply.
        for index in 0..<Int(context.pointee.nb_streams) where index != Int(best) {
            context.pointee.streams[index]?.pointee.discard = AVDISCARD_ALL
        }
        guard let packet = av_packet_alloc(), let frame = av_frame_alloc() else {
            var doomed: UnsafeMutablePointer<AVFormatContext>? = context
            avformat_close_input(&doomed)
            throw .readFailed(source: source.displayName, reason: "out of memory")
        }
        self.packet = packet
        self.frame = frame
    }

    deinit {
        // Closing an RTSP session sends TEARDOWN; never let that block on a dead peer.
        interrupt.arm(seconds: 0.5)
        avcodec_free_context(&decoder)
        var packet: UnsafeMutablePointer<AVPacket>? = self.packet
        av_packet_free(&packet)
        var frame: UnsafeMutablePointer<AVFrame>? = self.frame
        av_frame_free(&frame)
        var context: UnsafeMutablePointer<AVFormatContext>? = format
        avformat_close_input(&context)
        interrupt.disarm()
    }

    // MARK: - Stream facts

    /// For a local file: true when the container index places frames beyond the end of the file (it was cut off).
    var isCutShort: Bool {
        guard let path = source.path,
            let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = (attributes[.size] as? NSNumber)?.int64Value
        else { return false }
        return cff_index_end(stream) > size
    }

    /// The codec parameters of the chosen stream.
    var parameters: UnsafeMutablePointer<AVCodecParameters> { stream.pointee.codecpar }

    /// The chosen stream's time base.
    var timeBase: AVRational { stream.pointee.time_base }

    /// Display-matrix rotation in degrees as the container states it (counter-clockwise positive, e.g. -90), and
    /// whether the matrix mirrors the picture.
    var displayMatrix: (rotation: Double, mirrored: Bool) {
        var size = 0
        guard let raw = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size), size >= 36 else {
            return (0, false)
        }
        return raw.withMemoryRebound(to: Int32.self, capacity: 9) { Orientation.read(matrix: $0) }
    }

    /// The codec name as FFmpeg knows it ("h264"); the FourCC when FFmpeg has no name for it.
    var codecName: String {
        let id = parameters.pointee.codec_id
        if id == AV_CODEC_ID_NONE {
            let tag = parameters.pointee.codec_tag
            let bytes = (0..<4).map { UInt8((tag >> ($0 * 8)) & 0xFF) }
            let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            return text.isEmpty || bytes.contains(0) ? "unknown" : text
        }
        return String(cString: avcodec_get_name(id))
    }

    /// "1 audio stream", "2 audio streams and 1 data stream": what a source without video holds.
    private static func describeStreams(_ context: UnsafeMutablePointer<AVFormatContext>) -> String {
        var counts: [(String, Int)] = []
        for index in 0..<Int(context.pointee.nb_streams) {
            guard let stream = context.pointee.streams[index] else { continue }
            let type = av_get_media_type_string(stream.pointee.codecpar.pointee.codec_type)
            var kind = type.map { String(cString: $0) } ?? "unknown"
            if stream.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC != 0 { kind = "cover picture" }
            if let at = counts.firstIndex(where: { $0.0 == kind }) {
                counts[at].1 += 1
            } else {
                counts.append((kind, 1))
            }
        }
        if counts.isEmpty { return "no streams at all" }
        let parts = counts.map { "\($0.1) \($0.0) stream\($0.1 == 1 ? "" : "s")" }
        return parts.count == 1 ? parts[0] : parts.dropLast().joined(separator: ", ") + " and " + parts.last!
    }

    // MARK: - Decoding

    /// Throws `unsupportedCodec` when this FFmpeg build has no decoder for the chosen stream.
    func checkDecoder() throws(MediaError) {
        if avcodec_find_decoder(parameters.pointee.codec_id) == nil {
            throw .unsupportedCodec(source: source.displayName, codec: codecName)
        }
    }

    /// Opens the decoder of the chosen stream.
    func openDecoder() throws(MediaError) {
        guard decoder == nil else { return }
        let name = source.displayName
        guard let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            throw .unsupportedCodec(source: name, codec: codecName)
        }
        let (width, height) = (Int(parameters.pointee.width), Int(parameters.pointee.height))
        if width > 0, height > 0, width > MediaLimits.maxPixels / height {
            throw .limitExceeded(
                source: name,
                detail: "declares \(width)×\(height) pictures, more than the \(MediaLimits.maxPixels) pixels "
                    + "(8192×8192) Vigil decodes")
        }
        guard let context = avcodec_alloc_context3(codec) else {
            throw .readFailed(source: name, reason: "out of memory")
        }
        decoder = context
        // The decoder refuses every frame larger than the limit, whatever the stream header said.
        context.pointee.max_pixels = Int64(MediaLimits.maxPixels)
        guard avcodec_parameters_to_context(context, parameters) >= 0 else {
            throw .unsupportedCodec(source: name, codec: codecName)
        }
        context.pointee.pkt_timebase = stream.pointee.time_base
        context.pointee.thread_count = Int32(settings.decoderThreads)
        let code = avcodec_open2(context, codec, nil)
        guard code >= 0 else {
            throw .unsupportedCodec(source: name, codec: "\(codecName): \(FFmpeg.errorText(code))")
        }
        lastDataAt = FFmpeg.now()
    }

    /// Decodes the next video frame into `frame`; nil when reading stopped (see `endReason`).
    func nextFrame() -> UnsafeMutablePointer<AVFrame>? {
        guard let decoder else { return nil }
        while true {
            let received = avcodec_receive_frame(decoder, frame)
            if received >= 0 { return frame }
            if received == cff_averror_eof() || draining {
                endReason = pendingEnd ?? .endOfStream
                return nil
            }
            if received != cff_averror_eagain() {
                // A decoder that cannot go on: report it as a read error after what was decoded.
                endReason = .readError(received)
                return nil
            }
            if let end = readPacket() {
                if end == .aborted {
                    endReason = .aborted
                    return nil
                }
                pendingEnd = end
                draining = true
                avcodec_send_packet(decoder, nil)
                continue
            }
            let sent = avcodec_send_packet(decoder, packet)
            av_packet_unref(packet)
            if sent < 0 && sent != cff_averror_eagain() {
                rejectedPackets += 1
            }
        }
    }

    /// Reads the next packet of the chosen stream into `packet`; the reason reading stopped otherwise.
    private func readPacket() -> InputEnd? {
        while true {
            if settings.isLive && !interrupt.hasExpired {
                interrupt.arm(seconds: settings.timeout)
            }
            let code = av_read_frame(format, packet)
            let expired = interrupt.hasExpired
            if interrupt.isAborted {
                av_packet_unref(packet)
                return .aborted
            }
            if code < 0 {
                interrupt.disarm()
                if expired || code == cff_averror_etimedout() || code == cff_averror_exit() {
                    return .stalled(seconds: FFmpeg.now() - lastDataAt)
                }
                return code == cff_averror_eof() ? .endOfStream : .readError(code)
            }
            if packet.pointee.stream_index != streamIndex {
                av_packet_unref(packet)
                continue
            }
            // After a stall FFmpeg's parser hands out the one packet it held back; it is a real frame, and the
            // deadline stays expired so the next read reports the stall at once instead of waiting again.
            if !expired { lastDataAt = FFmpeg.now() }
            return nil
        }
    }
}
