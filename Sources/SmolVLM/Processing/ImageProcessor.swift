// Still images and video frames → normalised square tiles for the SigLIP vision encoder.
//
// Ports transformers 5.24 `SmolVLMImageProcessorPil` (models/smolvlm/image_processing_pil_smolvlm.py) with Pillow
// 13.0.0 LANCZOS, and the frame resize of `SmolVLMVideoProcessor` (video_processing_smolvlm.py). Config keys:
// see `PreprocessorConfig`.
//
// Still image (S = max_image_size, 512 for SmolVLM2; L = size.longest_edge, 2048):
//   1. resize so the longest edge is L, aspect kept (short side int(), +1 if odd; capped at 4096)
//   2. resize to multiples of S (long side ceil to S, short side int(long / aspect) then ceil to S)
//   3. if larger than S: R×C crops of S×S, row-major, then a global view (step-2 image squashed to S×S);
//      else one frame and rows = cols = 0
//   4. per frame: x · rescale_factor (in double, stored as float32), then (x − mean) / std in float32, CHW
// With do_image_splitting = false, step 2–3 become one squash to S×S (rows = cols = 0).
//
// Video frame: resize to the video size (longest edge, aspect kept, same int/odd rule; 2048 with the released config,
// see `PreprocessorConfig.videoFrameSize`), then squash to S×S; never split. `SmolVLMVideoProcessor` is
// torchvision-backed: with torchvision ≥ 0.27 on CPU both resizes are torch's uint8 LANCZOS
// (`Lanczos.Arithmetic.torch`, the default here), whose rounding differs from Pillow's. The normalisation is the
// fused torchvision one: (x − mean/rescale) / (std/rescale) in float32.
//
// Shapes: N frames (tiles + global), S tile side; pixel values are [N, 3, S, S] float32, channel order R, G, B.

import Kernels
import VigilCore

/// The output of `ImageProcessor.process`: the tiles as normalised pixels, and the grid they form.
public struct ProcessedImage: Sendable {
    /// [N, 3, S, S] float32: R×C tiles row-major, then the global view (N = R·C + 1), or one frame when unsplit.
    public var pixelValues: Tensor
    /// Tile rows R (0 when the image was not split).
    public var rows: Int
    /// Tile columns C (0 when the image was not split).
    public var cols: Int
    /// The N frames as 8-bit RGB before rescaling and normalisation, in the order of `pixelValues`.
    public var resizedTiles: [RGBImage]

    /// Number of frames (tiles plus the global view).
    public var frameCount: Int { resizedTiles.count }
}

/// SmolVLM's image preprocessing: resizing, tiling, rescaling and normalising.
public struct ImageProcessor: Sendable {
    /// Largest side transformers allows after the first resize (`MAX_IMAGE_SIZE`).
    public static let maxImageSide = 4096

    /// The settings in use.
    public let config: PreprocessorConfig
    /// Resampling arithmetic for video frames: `.torch` reproduces transformers' video processor (torchvision ≥ 0.27
    /// on CPU); `.pillow` resizes frames exactly like still images.
    public let videoArithmetic: Lanczos.Arithmetic

    /// A processor for `config`.
    public init(config: PreprocessorConfig, videoArithmetic: Lanczos.Arithmetic = .torch) {
        self.config = config
        self.videoArithmetic = videoArithmetic
    }

    /// Resizes, tiles and normalises one still image.
    public func process(_ image: RGBImage) -> ProcessedImage {
        let side = config.maxImageSize
        var current = image
        if config.doResize {
            current = resize(current, to: config.size)
        }
        var frames: [RGBImage]
        var rows = 0
        var cols = 0
        if config.doImageSplitting {
            let target = Self.visionEncoderSize(height: current.height, width: current.width, tileSide: side)
            current = Lanczos.resize(current, width: target.width, height: target.height)
            if current.height > side || current.width > side {
                rows = (current.height - side) / side + 1
                cols = (current.width - side) / side + 1
                frames = []
                frames.reserveCapacity(rows * cols + 1)
                for r in 0..<rows {
                    for c in 0..<cols {
                        frames.append(Self.crop(current, x: c * side, y: r * side, width: side, height: side))
                    }
                }
                frames.append(Lanczos.resize(current, width: side, height: side))
            } else {
                frames = [current]
            }
        } else {
            frames = [Lanczos.resize(current, width: side, height: side)]
        }
        let pixels = Tensor(zeros: [frames.count, 3, frames[0].height, frames[0].width])
        for (n, frame) in frames.enumerated() {
            precondition(frame.width == frames[0].width && frame.height == frames[0].height, "tiles differ in size")
            writeImagePixels(frame, into: pixels.floats + n * 3 * frame.width * frame.height)
        }
        return ProcessedImage(pixelValues: pixels, rows: rows, cols: cols, resizedTiles: frames)
    }

    /// Resizes one video frame to an S×S tile and normalises it the way the video processor does: [3, S, S] float32.
    /// The tile is bit-exact with `SmolVLMVideoProcessor` (torchvision ≥ 0.27, CPU) for `videoArithmetic == .torch`.
    public func processVideoFrame(_ image: RGBImage) -> (tile: RGBImage, pixels: Tensor) {
        let side = config.maxImageSize
        var current = image
        if config.doResize {
            var size = config.videoFrameSize
            // The video processor clamps the longest edge to 4096 first instead of capping afterwards.
            if let edge = size.longestEdge { size.longestEdge = min(edge, Self.maxImageSide) }
            current = resize(current, to: size, arithmetic: videoArithmetic)
            current = Lanczos.resize(current, width: side, height: side, arithmetic: videoArithmetic)
        }
        let pixels = Tensor(zeros: [3, current.height, current.width])
        writeVideoPixels(current, into: pixels.floats)
        return (current, pixels)
    }

    // MARK: - Sizes

    /// The first resize: a longest-edge size keeps the aspect (`get_resize_output_image_size`), height × width is
    /// taken as is.
    private func resize(
        _ image: RGBImage, to size: PreprocessorConfig.Size, arithmetic: Lanczos.Arithmetic = .pillow
    ) -> RGBImage {
        let target: (height: Int, width: Int)
        if let edge = size.longestEdge {
            target = Self.longestEdgeSize(height: image.height, width: image.width, longestEdge: edge)
        } else {
            target = (size.height ?? image.height, size.width ?? image.width)
        }
        return Lanczos.resize(image, width: target.width, height: target.height, arithmetic: arithmetic)
    }

    /// Output size when the longest edge becomes `longestEdge`: `_resize_output_size_rescale_to_max_len` (short
    /// side truncated, then made even by +1, at least 1) followed by `_resize_output_size_scale_below_upper_bound`
    /// (4096 cap).
    public static func longestEdgeSize(height: Int, width: Int, longestEdge: Int) -> (height: Int, width: Int) {
        var h = height
        var w = width
        let aspect = Double(width) / Double(height)
        if w >= h {
            w = longestEdge
            h = Int(Double(w) / aspect)
            if h % 2 != 0 { h += 1 }
        } else {
            h = longestEdge
            w = Int(Double(h) * aspect)
            if w % 2 != 0 { w += 1 }
        }
        h = max(h, 1)
        w = max(w, 1)
        // Scale below the upper bound, with the aspect of the size just computed.
        let capAspect = Double(w) / Double(h)
        if w >= h && w > maxImageSide {
            w = maxImageSide
            h = Int(Double(w) / capAspect)
        } else if h > w && h > maxImageSide {
            h = maxImageSide
            w = Int(Double(h) * capAspect)
        }
        return (max(h, 1), max(w, 1))
    }

    /// `resize_for_vision_encoder`: both sides rounded up to multiples of `tileSide`, the short one derived from the
    /// long one through the aspect ratio.
    public static func visionEncoderSize(height: Int, width: Int, tileSide: Int) -> (height: Int, width: Int) {
        let aspect = Double(width) / Double(height)
        var h = height
        var w = width
        if w >= h {
            w = ceilToMultiple(w, of: tileSide)
            h = Int(Double(w) / aspect)
            h = ceilToMultiple(h, of: tileSide)
        } else {
            h = ceilToMultiple(h, of: tileSide)
            w = Int(Double(h) * aspect)
            w = ceilToMultiple(w, of: tileSide)
        }
        // transformers would fail on a zero side; it cannot arise from a positive size, but never produce one.
        return (max(h, tileSide), max(w, tileSide))
    }

    /// `math.ceil(value / multiple) * multiple` for non-negative integers.
    private static func ceilToMultiple(_ value: Int, of multiple: Int) -> Int {
        (value + multiple - 1) / multiple * multiple
    }

    /// The `width × height` region of `image` whose top-left corner is (`x`, `y`).
    static func crop(_ image: RGBImage, x: Int, y: Int, width: Int, height: Int) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let rowBytes = width * 3
        image.pixels.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for r in 0..<height {
                    let from = src.baseAddress! + ((y + r) * image.width + x) * 3
                    (dst.baseAddress! + r * rowBytes).update(from: from, count: rowBytes)
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    // MARK: - Rescale and normalise

    /// Image path (numpy): float32(double(x) · rescale_factor), then (x − float32(mean)) / float32(std), planar CHW.
    private func writeImagePixels(_ image: RGBImage, into out: UnsafeMutablePointer<Float>) {
        var lut = [[Float]](repeating: [Float](repeating: 0, count: 256), count: 3)
        for c in 0..<3 {
            let mean = Float(config.imageMean[c])
            let std = Float(config.imageStd[c])
            for v in 0..<256 {
                var x = config.doRescale ? Float(Double(v) * config.rescaleFactor) : Float(v)
                if config.doNormalize { x = (x - mean) / std }
                lut[c][v] = x
            }
        }
        writePlanar(image, lut: lut, into: out)
    }

    /// Video path (torchvision, fused): (float32(x) − mean′) / std′ with mean′ = float32(mean) · float32(1 / rescale)
    /// and std′ likewise, all in float32.
    private func writeVideoPixels(_ image: RGBImage, into out: UnsafeMutablePointer<Float>) {
        var lut = [[Float]](repeating: [Float](repeating: 0, count: 256), count: 3)
        let inverse = Float(1.0 / config.rescaleFactor)
        for c in 0..<3 {
            for v in 0..<256 {
                let x = Float(v)
                let value: Float
                if config.doRescale && config.doNormalize {
                    value = (x - Float(config.imageMean[c]) * inverse) / (Float(config.imageStd[c]) * inverse)
                } else if config.doNormalize {
                    value = (x - Float(config.imageMean[c])) / Float(config.imageStd[c])
                } else if config.doRescale {
                    value = x * Float(config.rescaleFactor)
                } else {
                    value = x
                }
                lut[c][v] = value
            }
        }
        writePlanar(image, lut: lut, into: out)
    }

    /// Writes packed RGB through per-channel lookup tables into three planes.
    private func writePlanar(_ image: RGBImage, lut: [[Float]], into out: UnsafeMutablePointer<Float>) {
        let plane = image.width * image.height
        image.pixels.withUnsafeBufferPointer { src in
            for c in 0..<3 {
                lut[c].withUnsafeBufferPointer { table in
                    let dst = out + c * plane
                    for i in 0..<plane {
                        dst[i] = table[Int(src[i * 3 + c])]
                    }
                }
            }
        }
    }
}
