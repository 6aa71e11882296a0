// The two processor configs of a SmolVLM2 checkpoint: `preprocessor_config.json` (image and video preprocessing)
// and `processor_config.json` (how many `<image>` tokens stand for one frame).
//
// Ports the attributes that transformers 5.24 reads from these files:
// - `SmolVLMImageProcessorPil` (models/smolvlm/image_processing_pil_smolvlm.py): do_convert_rgb, do_resize, size,
//   resample, do_image_splitting, max_image_size, do_rescale, rescale_factor, do_normalize, image_mean, image_std,
//   do_pad.
// - `SmolVLMVideoProcessor` (models/smolvlm/video_processing_smolvlm.py): video_sampling {fps, max_frames,
//   video_size}, plus the shared keys above.
// - `SmolVLMProcessor` (models/smolvlm/processing_smolvlm.py): image_seq_len.
//
// Absent keys take the class defaults of those transformers classes (each default names its source below), so a
// config that holds only some keys behaves as transformers would. Unknown keys (image_processor_type,
// processor_class, …) are ignored.

import Foundation

/// `preprocessor_config.json`: how still images and video frames become normalised 3×S×S tiles.
public struct PreprocessorConfig: Codable, Sendable, Equatable {
    /// A `size`-style dictionary: either `{"longest_edge": n}` or `{"height": h, "width": w}`.
    public struct Size: Codable, Sendable, Equatable {
        /// Target of the longest edge (aspect kept), if given.
        public var longestEdge: Int?
        /// Exact target height, used only when `longestEdge` is absent.
        public var height: Int?
        /// Exact target width, used only when `longestEdge` is absent.
        public var width: Int?

        /// The largest `longest_edge` read from a file (the processor caps resizing at 4096 anyway; a larger value
        /// can only be damage).
        public static let maximumLongestEdge = 1 << 20

        /// A longest-edge size.
        public init(longestEdge: Int) {
            self.longestEdge = longestEdge
        }

        /// An exact height × width size.
        public init(height: Int, width: Int) {
            self.height = height
            self.width = width
        }

        enum CodingKeys: String, CodingKey {
            case longestEdge = "longest_edge"
            case height, width
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            longestEdge = try c.decodeIfPresent(Int.self, forKey: .longestEdge)
            height = try c.decodeIfPresent(Int.self, forKey: .height)
            width = try c.decodeIfPresent(Int.self, forKey: .width)
            if let longestEdge, longestEdge < 1 || longestEdge > Self.maximumLongestEdge {
                throw DecodingError.dataCorruptedError(
                    forKey: .longestEdge, in: c,
                    debugDescription: "longest_edge is \(longestEdge); it must be a number of pixels from 1 to "
                        + "\(Self.maximumLongestEdge)")
            }
            for (key, side) in [(CodingKeys.height, height), (.width, width)] {
                if let side, side > ImageProcessor.maxImageSide {
                    throw DecodingError.dataCorruptedError(
                        forKey: key, in: c,
                        debugDescription: "\(key.stringValue) is \(side) pixels; at most "
                            + "\(ImageProcessor.maxImageSide) are supported")
                }
            }
            if longestEdge == nil {
                guard let height, let width, height > 0, width > 0 else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .longestEdge, in: c,
                        debugDescription: "a size needs \"longest_edge\" or positive \"height\" and \"width\"; "
                            + "write e.g. {\"longest_edge\": 512}")
                }
            }
        }
    }

    /// `video_sampling`: how frames are picked from a video and how large they are resized.
    public struct VideoSampling: Codable, Sendable, Equatable {
        /// Target frames per second (`fps`).
        public var fps: Double
        /// Cap on the number of frames (`max_frames`).
        public var maxFrames: Int
        /// Longest-edge size for frames (`video_size`); transformers 5.24 replaces it by the top-level `size` when
        /// that key is present (see `PreprocessorConfig.videoFrameLongestEdge`).
        public var videoSize: Size?

        /// Spells out every field.
        public init(fps: Double, maxFrames: Int, videoSize: Size?) {
            self.fps = fps
            self.maxFrames = maxFrames
            self.videoSize = videoSize
        }

        enum CodingKeys: String, CodingKey {
            case fps
            case maxFrames = "max_frames"
            case videoSize = "video_size"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            // Defaults: the values of every released SmolVLM2 config (fps 1, 64 frames); transformers has none and
            // fails at sampling time without them.
            fps = try c.decodeIfPresent(Double.self, forKey: .fps) ?? 1
            maxFrames = try c.decodeIfPresent(Int.self, forKey: .maxFrames) ?? 64
            videoSize = try c.decodeIfPresent(Size.self, forKey: .videoSize)
            guard fps > 0, fps.isFinite else {
                throw DecodingError.dataCorruptedError(
                    forKey: .fps, in: c, debugDescription: "video_sampling.fps is \(fps); it must be positive")
            }
            guard maxFrames >= 1 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .maxFrames, in: c,
                    debugDescription: "video_sampling.max_frames is \(maxFrames); it must be at least 1")
            }
        }
    }

    /// `do_convert_rgb`. Inputs are already `RGBImage`s, so this changes nothing; kept for completeness.
    public var doConvertRGB: Bool
    /// `do_resize`: first resize so the longest edge equals `size.longestEdge`.
    public var doResize: Bool
    /// `size`: target of the first resize.
    public var size: Size
    /// `resample`: PIL filter id. Only 1 (LANCZOS) is supported.
    public var resample: Int
    /// `do_image_splitting`: split large images into `maxImageSize` tiles plus a global view.
    public var doImageSplitting: Bool
    /// `max_image_size.longest_edge`: side of one square tile (the vision encoder's input size).
    public var maxImageSize: Int
    /// `do_rescale`: multiply pixel values by `rescaleFactor`.
    public var doRescale: Bool
    /// `rescale_factor` (1/255).
    public var rescaleFactor: Double
    /// `do_normalize`: `(x - mean) / std` per channel.
    public var doNormalize: Bool
    /// `image_mean`, one value per channel (R, G, B).
    public var imageMean: [Double]
    /// `image_std`, one value per channel (R, G, B).
    public var imageStd: [Double]
    /// `do_pad`: transformers pads a batch to a common frame count; a single image never needs it.
    public var doPad: Bool
    /// `video_sampling`, if present.
    public var videoSampling: VideoSampling?
    /// Whether the JSON named a top-level `size` (transformers 5.24 then lets it override `video_sampling.video_size`).
    public var hasExplicitSize: Bool
    /// The video processor's own `size`, when the checkpoint has a separate video processor config (transformers
    /// 5.x saves one inside processor_config.json); it then decides `videoFrameSize`.
    public var videoFrameSizeOverride: Size? = nil

    /// The real SmolVLM2 (256M/500M Video-Instruct) values.
    public static let smolVLM2 = PreprocessorConfig(
        size: Size(longestEdge: 2048), maxImageSize: 512, imageMean: [0.5, 0.5, 0.5], imageStd: [0.5, 0.5, 0.5],
        videoSampling: VideoSampling(fps: 1, maxFrames: 64, videoSize: Size(longestEdge: 512)))

    /// Builds a config in code; the defaults are the transformers class defaults, except where noted.
    public init(
        doConvertRGB: Bool = true, doResize: Bool = true, size: Size = Size(longestEdge: 4 * 364),
        resample: Int = 1, doImageSplitting: Bool = true, maxImageSize: Int = 364, doRescale: Bool = true,
        rescaleFactor: Double = 1.0 / 255.0, doNormalize: Bool = true, imageMean: [Double] = [0.5, 0.5, 0.5],
        imageStd: [Double] = [0.5, 0.5, 0.5], doPad: Bool = true, videoSampling: VideoSampling? = nil,
        hasExplicitSize: Bool = true
    ) {
        self.doConvertRGB = doConvertRGB
        self.doResize = doResize
        self.size = size
        self.resample = resample
        self.doImageSplitting = doImageSplitting
        self.maxImageSize = maxImageSize
        self.doRescale = doRescale
        self.rescaleFactor = rescaleFactor
        self.doNormalize = doNormalize
        self.imageMean = imageMean
        self.imageStd = imageStd
        self.doPad = doPad
        self.videoSampling = videoSampling
        self.hasExplicitSize = hasExplicitSize
    }

    /// Reads `preprocessor_config.json` at `url`.
    public static func load(from url: URL) throws -> PreprocessorConfig {
        try decodeConfig(PreprocessorConfig.self, at: url)
    }

    /// Size video frames are resized to before the square `maxImageSize` resize (aspect kept for a longest edge).
    ///
    /// transformers 5.24 `SmolVLMVideoProcessor.__init__` copies the top-level `size` over `video_sampling.video_size`
    /// when both keys are in the file, so with the released SmolVLM2 config (size 2048, video_size 512) frames go to a
    /// 2048 longest edge first. Without a top-level `size`, `video_size` applies; without either, the class default
    /// `{"longest_edge": 4 * 364}`.
    public var videoFrameSize: Size {
        if let videoFrameSizeOverride { return videoFrameSizeOverride }
        if hasExplicitSize { return size }
        return videoSampling?.videoSize ?? size
    }

    enum CodingKeys: String, CodingKey {
        case doConvertRGB = "do_convert_rgb"
        case doResize = "do_resize"
        case size
        case resample
        case doImageSplitting = "do_image_splitting"
        case maxImageSize = "max_image_size"
        case doRescale = "do_rescale"
        case rescaleFactor = "rescale_factor"
        case doNormalize = "do_normalize"
        case imageMean = "image_mean"
        case imageStd = "image_std"
        case doPad = "do_pad"
        case videoSampling = "video_sampling"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // Defaults: SmolVLMImageProcessorPil class attributes (transformers 5.24).
        doConvertRGB = try c.decodeIfPresent(Bool.self, forKey: .doConvertRGB) ?? true
        doResize = try c.decodeIfPresent(Bool.self, forKey: .doResize) ?? true
        let explicitSize = try c.decodeIfPresent(Size.self, forKey: .size)
        size = explicitSize ?? Size(longestEdge: 4 * 364)  // size = {"longest_edge": 4 * 364}
        hasExplicitSize = explicitSize != nil
        resample = try c.decodeIfPresent(Int.self, forKey: .resample) ?? 1  // PILImageResampling.LANCZOS
        doImageSplitting = try c.decodeIfPresent(Bool.self, forKey: .doImageSplitting) ?? true
        let maxSize = try c.decodeIfPresent(Size.self, forKey: .maxImageSize)
        maxImageSize = maxSize?.longestEdge ?? 364  // max_image_size = {"longest_edge": 364}
        doRescale = try c.decodeIfPresent(Bool.self, forKey: .doRescale) ?? true
        rescaleFactor = try c.decodeIfPresent(Double.self, forKey: .rescaleFactor) ?? 1.0 / 255.0  // BaseImageProcessor
        doNormalize = try c.decodeIfPresent(Bool.self, forKey: .doNormalize) ?? true
        imageMean = try Self.decodeChannels(c, .imageMean) ?? [0.5, 0.5, 0.5]  // IMAGENET_STANDARD_MEAN
        imageStd = try Self.decodeChannels(c, .imageStd) ?? [0.5, 0.5, 0.5]  // IMAGENET_STANDARD_STD
        doPad = try c.decodeIfPresent(Bool.self, forKey: .doPad) ?? true
        videoSampling = try c.decodeIfPresent(VideoSampling.self, forKey: .videoSampling)

        if let maxSize, maxSize.longestEdge == nil {
            throw DecodingError.dataCorruptedError(
                forKey: .maxImageSize, in: c,
                debugDescription: "max_image_size needs \"longest_edge\" (the tile side, e.g. 512)")
        }
        guard maxImageSize <= ImageProcessor.maxImageSide else {
            throw DecodingError.dataCorruptedError(
                forKey: .maxImageSize, in: c,
                debugDescription: "max_image_size.longest_edge is \(maxImageSize); a tile has at most "
                    + "\(ImageProcessor.maxImageSide) pixels a side")
        }
        guard resample == 1 else {
            throw DecodingError.dataCorruptedError(
                forKey: .resample, in: c,
                debugDescription: "resample is \(resample); only 1 (LANCZOS, what SmolVLM uses) is implemented")
        }
        guard rescaleFactor > 0, rescaleFactor.isFinite else {
            throw DecodingError.dataCorruptedError(
                forKey: .rescaleFactor, in: c,
                debugDescription: "rescale_factor is \(rescaleFactor); it must be positive")
        }
        if imageStd.contains(where: { $0 == 0 || !$0.isFinite }) {
            throw DecodingError.dataCorruptedError(
                forKey: .imageStd, in: c, debugDescription: "image_std \(imageStd) contains zero or a non-finite value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(doConvertRGB, forKey: .doConvertRGB)
        try c.encode(doResize, forKey: .doResize)
        if hasExplicitSize { try c.encode(size, forKey: .size) }
        try c.encode(resample, forKey: .resample)
        try c.encode(doImageSplitting, forKey: .doImageSplitting)
        try c.encode(Size(longestEdge: maxImageSize), forKey: .maxImageSize)
        try c.encode(doRescale, forKey: .doRescale)
        try c.encode(rescaleFactor, forKey: .rescaleFactor)
        try c.encode(doNormalize, forKey: .doNormalize)
        try c.encode(imageMean, forKey: .imageMean)
        try c.encode(imageStd, forKey: .imageStd)
        try c.encode(doPad, forKey: .doPad)
        try c.encodeIfPresent(videoSampling, forKey: .videoSampling)
    }

    /// A per-channel list, or one number for all three channels (transformers accepts both).
    private static func decodeChannels(
        _ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys
    ) throws -> [Double]? {
        guard c.contains(key) else { return nil }
        if let one = try? c.decode(Double.self, forKey: key) { return [one, one, one] }
        let values = try c.decode([Double].self, forKey: key)
        guard values.count == 3 else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c,
                debugDescription: "\(key.stringValue) has \(values.count) values; RGB needs 3 (or one for all)")
        }
        return values
    }
}

/// `processor_config.json`: settings of `SmolVLMProcessor` itself.
public struct ProcessorConfig: Codable, Sendable, Equatable {
    /// `image_seq_len`: `<image>` tokens per 512×512 frame (64 for SmolVLM2).
    public var imageSeqLen: Int

    /// The real SmolVLM2 value.
    public static let smolVLM2 = ProcessorConfig(imageSeqLen: 64)

    /// The most `<image>` tokens per frame a file may declare (a prompt repeats the token that many times).
    public static let maximumImageSeqLen = 1 << 16

    /// Spells out every field.
    public init(imageSeqLen: Int) {
        self.imageSeqLen = imageSeqLen
    }

    /// Reads `processor_config.json` at `url`.
    public static func load(from url: URL) throws -> ProcessorConfig {
        try decodeConfig(ProcessorConfig.self, at: url)
    }

    enum CodingKeys: String, CodingKey {
        case imageSeqLen = "image_seq_len"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // Default: SmolVLMProcessor.__init__(image_seq_len=169) (transformers 5.24).
        imageSeqLen = try c.decodeIfPresent(Int.self, forKey: .imageSeqLen) ?? 169
        guard imageSeqLen >= 1, imageSeqLen <= Self.maximumImageSeqLen else {
            throw DecodingError.dataCorruptedError(
                forKey: .imageSeqLen, in: c,
                debugDescription: "image_seq_len is \(imageSeqLen); it must be from 1 to \(Self.maximumImageSeqLen)")
        }
    }
}

/// Reads and decodes a JSON config, turning every failure into a `ProcessingError` that names the file.
private func decodeConfig<T: Decodable>(_ type: T.Type, at url: URL) throws -> T {
    let data: Data
    do {
        data = try Data(contentsOf: url)
    } catch {
        throw ProcessingError(
            "cannot read \(url.path): \(error.localizedDescription); check that the model folder holds this file")
    }
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch let error as DecodingError {
        throw ProcessingError("\(url.path) is not a valid \(url.lastPathComponent): \(describeDecodingError(error))")
    } catch {
        throw ProcessingError("\(url.path) is not a valid \(url.lastPathComponent): \(error)")
    }
}
