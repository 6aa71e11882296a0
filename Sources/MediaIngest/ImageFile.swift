// Still images through FFmpeg: PNG/JPEG (anything FFmpeg's image demuxers read) to an upright RGB24 picture, and
// RGB24 pictures to PNG files with FFmpeg's png encoder, written atomically (temporary file + rename).
//
// Upright: a display matrix on the frame and the EXIF `Orientation` tag FFmpeg 5.1's JPEG decoder leaves in the
// frame metadata are both applied.

import CFFmpeg
import Foundation
import VigilCore

/// Still-image input and PNG output.
public enum ImageFile {
    /// Decodes the still image at `path` as an upright RGB picture.
    public static func load(_ path: String) throws(MediaError) -> RGBImage {
        let source = MediaSource(path)
        guard source.kind == .file else {
            throw .notAnImage(path: path, reason: "only local files are read as images")
        }
        let input: MediaInput
        do throws(MediaError) {
            input = try MediaInput(source: source, settings: OpenSettings(), interrupt: InterruptState())
            try input.openDecoder()
        } catch {
            switch error {
            case .fileNotFound, .limitExceeded: throw error
            case .noVideoStream(_, let contents): throw .notAnImage(path: path, reason: "it holds \(contents)")
            case .notMediaFile, .truncated: throw .notAnImage(path: path, reason: "unknown or damaged format")
            default: throw .notAnImage(path: path, reason: error.code)
            }
        }
        guard let frame = input.nextFrame() else {
            throw .notAnImage(path: path, reason: "no picture decodes")
        }
        var orientation = Orientation.upright
        if let side = av_frame_get_side_data(frame, AV_FRAME_DATA_DISPLAYMATRIX), side.pointee.size >= 36 {
            let (rotation, mirrored) = UnsafeRawPointer(side.pointee.data).withMemoryRebound(
                to: Int32.self, capacity: 9
            ) { Orientation.read(matrix: $0) }
            orientation = Orientation(rotation: rotation, mirrored: mirrored)
        } else if let entry = av_dict_get(frame.pointee.metadata, "Orientation", nil, 0),
            let value = Int(String(cString: entry.pointee.value)), let exif = Orientation(exifOrientation: value)
        {
            orientation = exif
        } else {
            let (rotation, mirrored) = input.displayMatrix
            orientation = Orientation(rotation: rotation, mirrored: mirrored)
        }
        return try FrameConverter().convert(frame, orientation: orientation, output: .displayed, source: path)
    }

    /// Writes `image` as a PNG file at `path`, atomically: readers see the old file or the complete new one.
    public static func writePNG(_ image: RGBImage, to path: String) throws(MediaError) {
        let bytes = try encodePNG(image, path: path)
        try AtomicFile.write(bytes, to: path)
    }

    /// `image` as the bytes of a PNG file (FFmpeg's png encoder), e.g. for an HTTP response.
    public static func pngData(_ image: RGBImage) throws(MediaError) -> [UInt8] {
        try encodePNG(image, path: "PNG in memory")
    }

    /// `image` encoded as PNG by FFmpeg's png encoder.
    static func encodePNG(_ image: RGBImage, path: String) throws(MediaError) -> [UInt8] {
        FFmpeg.prepare()
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG), let context = avcodec_alloc_context3(codec) else {
            throw .writeFailed(path: path, reason: "this FFmpeg build has no PNG encoder")
        }
        var contextHandle: UnsafeMutablePointer<AVCodecContext>? = context
        defer { avcodec_free_context(&contextHandle) }
        context.pointee.width = Int32(image.width)
        context.pointee.height = Int32(image.height)
        context.pointee.pix_fmt = AV_PIX_FMT_RGB24
        context.pointee.time_base = AVRational(num: 1, den: 1)
        guard avcodec_open2(context, codec, nil) >= 0, let frame = av_frame_alloc(), let packet = av_packet_alloc()
        else {
            throw .writeFailed(path: path, reason: "the PNG encoder did not start")
        }
        var frameHandle: UnsafeMutablePointer<AVFrame>? = frame
        var packetHandle: UnsafeMutablePointer<AVPacket>? = packet
        defer {
            av_frame_free(&frameHandle)
            av_packet_free(&packetHandle)
        }
        frame.pointee.width = Int32(image.width)
        frame.pointee.height = Int32(image.height)
        frame.pointee.format = AV_PIX_FMT_RGB24.rawValue
        guard av_frame_get_buffer(frame, 0) >= 0 else {
            throw .writeFailed(path: path, reason: "out of memory")
        }
        let rowBytes = image.width * 3
        let stride = Int(frame.pointee.linesize.0)
        image.pixels.withUnsafeBufferPointer { pixels in
            for y in 0..<image.height {
                (frame.pointee.data.0! + y * stride).update(from: pixels.baseAddress! + y * rowBytes, count: rowBytes)
            }
        }
        var sent = avcodec_send_frame(context, frame)
        if sent >= 0 { sent = avcodec_send_frame(context, nil) }
        guard sent >= 0 else {
            throw .writeFailed(path: path, reason: "PNG encoding failed: \(FFmpeg.errorText(sent))")
        }
        var bytes: [UInt8] = []
        while avcodec_receive_packet(context, packet) >= 0 {
            bytes.append(contentsOf: UnsafeBufferPointer(start: packet.pointee.data, count: Int(packet.pointee.size)))
            av_packet_unref(packet)
        }
        guard !bytes.isEmpty else { throw .writeFailed(path: path, reason: "the PNG encoder produced nothing") }
        return bytes
    }
}

/// Whole-file writes that never leave a half-written file behind.
enum AtomicFile {
    /// Writes `bytes` to a temporary file next to `path`, then renames it over `path`.
    static func write(_ bytes: [UInt8], to path: String) throws(MediaError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary =
            directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .writeFailed(path: path, reason: String(cString: strerror(errno))) }
        var offset = 0
        var failure: String?
        bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += n
            }
        }
        close(fd)
        if let failure {
            unlink(temporary)
            throw .writeFailed(path: path, reason: failure)
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .writeFailed(path: path, reason: reason)
        }
    }
}
