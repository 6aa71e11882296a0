// The processor settings of a model folder, in either of the two layouts found in the wild:
//   Hub repositories (HuggingFaceTB/SmolVLM2-*): a flat preprocessor_config.json (image processor keys plus
//     video_sampling) and processor_config.json = {image_seq_len, processor_class};
//   transformers 5.x save_pretrained: no preprocessor_config.json; processor_config.json nests "image_processor" and
//     "video_processor" (each with its own size) next to image_seq_len.
// Without any processor file, SmolVLM2's values are used with the tile size taken from the model's vision config.

import Foundation

/// How images and video frames of a model become pixels, and how many `<image>` tokens a frame is.
public struct ProcessorSettings: Sendable {
    public var preprocessor: PreprocessorConfig
    /// `image_seq_len` when a processor_config.json gives it.
    public var imageSeqLen: Int?

    public init(preprocessor: PreprocessorConfig, imageSeqLen: Int?) {
        self.preprocessor = preprocessor
        self.imageSeqLen = imageSeqLen
    }

    /// Reads the folder's processor files; `tileSize` (the vision tower's image size) is the fallback tile.
    public static func load(from folder: URL, tileSize: Int) throws -> ProcessorSettings {
        let flat = folder.appendingPathComponent("preprocessor_config.json")
        let processorURL = folder.appendingPathComponent("processor_config.json")
        var nested: [String: Any] = [:]
        if let data = FileManager.default.contents(atPath: processorURL.path) {
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ProcessingError("\(processorURL.path) is not a JSON object; the model folder is damaged")
            }
            nested = object
        }
        var preprocessor: PreprocessorConfig
        if FileManager.default.fileExists(atPath: flat.path) {
            preprocessor = try PreprocessorConfig.load(from: flat)
        } else if let image = nested["image_processor"] as? [String: Any] {
            preprocessor = try decode(PreprocessorConfig.self, from: image, key: "image_processor", file: processorURL)
        } else {
            var fallback = PreprocessorConfig.smolVLM2
            fallback.maxImageSize = tileSize
            fallback.size = PreprocessorConfig.Size(longestEdge: 4 * tileSize)
            preprocessor = fallback
        }
        if let video = nested["video_processor"] as? [String: Any], let size = video["size"] {
            preprocessor.videoFrameSizeOverride = try decode(
                PreprocessorConfig.Size.self, from: size, key: "video_processor.size", file: processorURL)
        }
        var imageSeqLen: Int?
        if let value = nested["image_seq_len"] {
            guard let n = value as? Int, n >= 1, n <= ProcessorConfig.maximumImageSeqLen else {
                throw ProcessingError(
                    "\(processorURL.path): image_seq_len must be an integer from 1 to "
                        + "\(ProcessorConfig.maximumImageSeqLen)")
            }
            imageSeqLen = n
        }
        return ProcessorSettings(preprocessor: preprocessor, imageSeqLen: imageSeqLen)
    }

    private static func decode<T: Decodable>(_ type: T.Type, from value: Any, key: String, file: URL) throws -> T {
        do {
            let data = try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw ProcessingError("\(file.path): \(key): \(describeDecodingError(error))")
        } catch {
            throw ProcessingError("\(file.path): \(key) is not valid: \(error)")
        }
    }
}
