// Decoded frame → upright RGB24 picture. Only sampled frames come here: swscale costs about as much as decoding.
//
// Steps: (1) pick the output size (the displayed size by default, i.e. the coded size turned by the display
// matrix; or N×N; or the long edge fitted to N); (2) swscale to RGB24 at that size *before* rotation (width and
// height swapped for quarter turns), honouring the frame's colour matrix and range (yuvj* and full-range frames are
// full range; 10-bit input is converted without tone mapping); (3) turn the pixels upright in C.
//
// Rotation convention (FFmpeg's display matrix, `av_display_rotation_get`): the angle is counter-clockwise, so
// -90 means "turn the decoded picture 90° clockwise to show it upright" and +90 means counter-clockwise.

import CFFmpeg
import VigilCore

/// How decoded pictures are turned to be upright.
struct Orientation: Equatable, Sendable {
    /// Clockwise quarter turns to apply, 0...3.
    var clockwiseQuarterTurns: Int
    /// Mirror left-right before turning.
    var mirrored: Bool

    /// No change.
    static let upright = Orientation(clockwiseQuarterTurns: 0, mirrored: false)

    /// The orientation that undoes a display matrix of `rotation` degrees (counter-clockwise positive).
    init(rotation: Double, mirrored: Bool) {
        let quarters = Int((-rotation / 90).rounded())
        clockwiseQuarterTurns = ((quarters % 4) + 4) % 4
        self.mirrored = mirrored
    }

    init(clockwiseQuarterTurns: Int, mirrored: Bool) {
        self.clockwiseQuarterTurns = ((clockwiseQuarterTurns % 4) + 4) % 4
        self.mirrored = mirrored
    }

    /// True when width and height trade places.
    var swapsAxes: Bool { clockwiseQuarterTurns % 2 == 1 }

    /// The displayed size of a `width × height` coded picture.
    func displayed(width: Int, height: Int) -> (width: Int, height: Int) {
        swapsAxes ? (height, width) : (width, height)
    }

    /// Reads a 3×3 display matrix: its rotation in degrees (as FFmpeg reports it) and whether it mirrors.
    static func read(matrix: UnsafePointer<Int32>) -> (rotation: Double, mirrored: Bool) {
        // The 2×2 part in 16.16 fixed point; a negative determinant means a mirror.
        let determinant = Double(matrix[0]) * Double(matrix[4]) - Double(matrix[1]) * Double(matrix[3])
        if determinant < 0 {
            var unmirrored = [Int32](repeating: 0, count: 9)
            for i in 0..<9 { unmirrored[i] = matrix[i] }
            av_display_matrix_flip(&unmirrored, 1, 0)
            let angle = av_display_rotation_get(unmirrored)
            return (angle.isFinite ? angle : 0, true)
        }
        let angle = av_display_rotation_get(matrix)
        return (angle.isFinite ? angle : 0, false)
    }

    /// Reads the EXIF `Orientation` tag (1–8) that FFmpeg leaves in a JPEG frame's metadata.
    init?(exifOrientation: Int) {
        switch exifOrientation {
        case 1: self.init(clockwiseQuarterTurns: 0, mirrored: false)
        case 2: self.init(clockwiseQuarterTurns: 0, mirrored: true)
        case 3: self.init(clockwiseQuarterTurns: 2, mirrored: false)
        case 4: self.init(clockwiseQuarterTurns: 2, mirrored: true)
        case 5: self.init(clockwiseQuarterTurns: 3, mirrored: true)
        case 6: self.init(clockwiseQuarterTurns: 1, mirrored: false)
        case 7: self.init(clockwiseQuarterTurns: 1, mirrored: true)
        case 8: self.init(clockwiseQuarterTurns: 3, mirrored: false)
        default: return nil
        }
    }
}

/// The size sampled frames are delivered at.
public enum OutputSize: Sendable, Equatable {
    /// The displayed size (coded size after rotation).
    case displayed
    /// Squashed to `N × N`.
    case square(Int)
    /// Scaled so the long edge is `N`, keeping the aspect ratio.
    case fitLongEdge(Int)
    /// Scaled down (never up) so the long edge is at most `N`, keeping the aspect ratio.
    case fitWithin(Int)

    /// The size for the CLI's `--size N [--keep-aspect]`: displayed when `size` is nil, else N×N or the long edge.
    public init(size: Int?, keepAspect: Bool) {
        guard let size else {
            self = .displayed
            return
        }
        self = keepAspect ? .fitLongEdge(size) : .square(size)
    }

    /// The output size for a picture displayed at `width × height`.
    public func resolve(width: Int, height: Int) -> (width: Int, height: Int) {
        switch self {
        case .displayed:
            return (width, height)
        case .square(let n):
            return (n, n)
        case .fitWithin(let n):
            if max(width, height) <= n { return (width, height) }
            return OutputSize.fitLongEdge(n).resolve(width: width, height: height)
        case .fitLongEdge(let n):
            if width >= height {
                return (n, max(1, Int((Double(height) * Double(n) / Double(width)).rounded())))
            }
            return (max(1, Int((Double(width) * Double(n) / Double(height)).rounded())), n)
        }
    }
}

/// Converts decoded frames to upright RGB24, reusing its swscale context while the input does not change.
final class FrameConverter {
    private var scaler: OpaquePointer?
    private var scalerKey: [Int32] = []
    private var scratch: [UInt8] = []

    deinit { sws_freeContext(scaler) }

    /// `frame` as an upright RGB picture of size `output` (resolved against the displayed size).
    func convert(
        _ frame: UnsafeMutablePointer<AVFrame>, orientation: Orientation, output: OutputSize, source: String
    ) throws(MediaError) -> RGBImage {
        let codedWidth = Int(frame.pointee.width)
        let codedHeight = Int(frame.pointee.height)
        guard codedWidth > 0, codedHeight > 0 else {
            throw .readFailed(source: source, reason: "the decoder returned an empty picture")
        }
        let shown = orientation.displayed(width: codedWidth, height: codedHeight)
        let target = output.resolve(width: shown.width, height: shown.height)
        // Scale first, at the size the picture has before turning.
        let scaledWidth = orientation.swapsAxes ? target.height : target.width
        let scaledHeight = orientation.swapsAxes ? target.width : target.height

        var pixelFormat = AVPixelFormat(rawValue: frame.pointee.format)
        var fullRange = frame.pointee.color_range == AVCOL_RANGE_JPEG
        switch pixelFormat {
        case AV_PIX_FMT_YUVJ420P: pixelFormat = AV_PIX_FMT_YUV420P; fullRange = true
        case AV_PIX_FMT_YUVJ422P: pixelFormat = AV_PIX_FMT_YUV422P; fullRange = true
        case AV_PIX_FMT_YUVJ444P: pixelFormat = AV_PIX_FMT_YUV444P; fullRange = true
        case AV_PIX_FMT_YUVJ440P: pixelFormat = AV_PIX_FMT_YUV440P; fullRange = true
        case AV_PIX_FMT_YUVJ411P: pixelFormat = AV_PIX_FMT_YUV411P; fullRange = true
        default: break
        }
        let flags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT
        scaler = sws_getCachedContext(
            scaler, Int32(codedWidth), Int32(codedHeight), pixelFormat, Int32(scaledWidth), Int32(scaledHeight),
            AV_PIX_FMT_RGB24, flags, nil, nil, nil)
        guard let scaler else {
            let name = av_get_pix_fmt_name(pixelFormat).map { String(cString: $0) } ?? "unknown"
            throw .readFailed(source: source, reason: "cannot convert pixel format '\(name)' to RGB")
        }
        let isYUV =
            av_pix_fmt_desc_get(pixelFormat).map { $0.pointee.flags & UInt64(AV_PIX_FMT_FLAG_RGB) == 0 }
            ?? true
        if isYUV {
            // Colour matrix as the stream states it; unspecified means BT.601, as in the ffmpeg CLI.
            let space = frame.pointee.colorspace
            let matrix =
                space == AVCOL_SPC_UNSPECIFIED || space == AVCOL_SPC_RGB ? SWS_CS_DEFAULT : Int32(space.rawValue)
            let key = [
                Int32(codedWidth), Int32(codedHeight), pixelFormat.rawValue, Int32(scaledWidth),
                Int32(scaledHeight), matrix, fullRange ? 1 : 0,
            ]
            if key != scalerKey {
                let coefficients = sws_getCoefficients(matrix)
                sws_setColorspaceDetails(
                    scaler, coefficients, fullRange ? 1 : 0, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16,
                    1 << 16)
                scalerKey = key
            }
        }

        // swscale writes into a padded, 64-byte-aligned stride; rows are then packed (and turned) into the result.
        let stride = (scaledWidth * 3 + 63) & ~63
        let needed = stride * scaledHeight + 64
        if scratch.count < needed { scratch = [UInt8](repeating: 0, count: needed) }
        let frameBase = UnsafeMutableRawPointer(frame)
        let sourcePlanes = (frameBase + MemoryLayout<AVFrame>.offset(of: \AVFrame.data)!)
            .assumingMemoryBound(to: UnsafePointer<UInt8>?.self)
        let sourceStrides = (frameBase + MemoryLayout<AVFrame>.offset(of: \AVFrame.linesize)!)
            .assumingMemoryBound(to: Int32.self)
        let rows = scratch.withUnsafeMutableBytes { raw -> Int32 in
            let aligned = raw.baseAddress!.alignedUp(toMultipleOf: 64).assumingMemoryBound(to: UInt8.self)
            var planes: [UnsafeMutablePointer<UInt8>?] = [aligned, nil, nil, nil]
            var strides: [Int32] = [Int32(stride), 0, 0, 0]
            return sws_scale(scaler, sourcePlanes, sourceStrides, 0, Int32(codedHeight), &planes, &strides)
        }
        guard rows > 0 else {
            throw .readFailed(source: source, reason: "converting a frame to RGB failed")
        }
        var pixels = [UInt8](repeating: 0, count: target.width * target.height * 3)
        scratch.withUnsafeBytes { raw in
            let aligned = raw.baseAddress!.alignedUp(toMultipleOf: 64).assumingMemoryBound(to: UInt8.self)
            pixels.withUnsafeMutableBufferPointer { out in
                cff_rotate_rgb24(
                    aligned, Int32(stride), Int32(scaledWidth), Int32(scaledHeight), out.baseAddress,
                    Int32(orientation.clockwiseQuarterTurns), orientation.mirrored ? 1 : 0)
            }
        }
        return RGBImage(width: target.width, height: target.height, pixels: pixels)
    }
}
