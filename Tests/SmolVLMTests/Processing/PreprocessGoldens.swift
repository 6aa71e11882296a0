// Test support for the preprocessing goldens in Tests/Fixtures/preprocess (made by
// scripts/fixtures/make_preprocess_goldens.py): the JSON cases, a minimal safetensors reader, the deterministic
// source images, and the hash / sampling scheme the generator uses for large outputs.

import Foundation
import VigilCore

@testable import SmolVLM

/// The goldens of Tests/Fixtures/preprocess, loaded once.
struct PreprocessGoldens: Sendable {
    /// Folder holding the fixture files.
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/preprocess")

    /// Loaded goldens (a failure to load fails every test that uses them, with the reason).
    static let shared: Result<PreprocessGoldens, any Error> = Result { try PreprocessGoldens() }

    /// Shortcut for `try shared.get()`.
    static func load() throws -> PreprocessGoldens { try shared.get() }

    let cases: Cases
    let tensors: SafetensorsFile

    init() throws {
        let json = try Data(contentsOf: Self.directory.appendingPathComponent("goldens.json"))
        cases = try JSONDecoder().decode(Cases.self, from: json)
        tensors = try SafetensorsFile(url: Self.directory.appendingPathComponent("goldens.safetensors"))
    }

    /// The JSON file's cases.
    struct Cases: Decodable, Sendable {
        let sampleCount: Int
        let configs: [String: JSONAny]
        let lanczos: [LanczosCase]
        let torchLanczos: [LanczosCase]
        let processor: [ProcessorCase]
        let videoFrames: [VideoFrameCase]
        let sampler: [SamplerCase]
        let prompts: [PromptCase]
        let numberWords: [NumberWordsCase]

        enum CodingKeys: String, CodingKey {
            case sampleCount = "sample_count"
            case configs, lanczos, processor
            case torchLanczos = "torch_lanczos"
            case videoFrames = "video_frames"
            case sampler, prompts
            case numberWords = "number_words"
        }
    }

    struct Source: Decodable, Sendable, CustomStringConvertible {
        let kind: String
        let width: Int
        let height: Int
        let seed: Int
        var description: String { "\(kind) \(width)×\(height)" }
        var image: RGBImage { SourceImages.make(kind, width: width, height: height, seed: UInt32(seed)) }
    }

    /// An output stored as hash + strided samples (+ the whole array when small).
    struct Checked: Decodable, Sendable {
        let hash: String
        let count: Int
        let samples: String
        let full: String?
    }

    struct LanczosCase: Decodable, Sendable {
        let name: String
        let source: Source
        let width: Int
        let height: Int
        let hash: String
        let count: Int
        let samples: String
        let full: String?
        var checked: Checked { Checked(hash: hash, count: count, samples: samples, full: full) }
    }

    struct ProcessorCase: Decodable, Sendable {
        let name: String
        let config: String
        let source: Source
        let rows: Int
        let cols: Int
        let frames: Int
        let tileHeight: Int
        let tileWidth: Int
        let tileHashes: [String]
        let tiles: Checked
        let pixels: Checked

        enum CodingKeys: String, CodingKey {
            case name, config, source, rows, cols, frames
            case tileHeight = "tile_height"
            case tileWidth = "tile_width"
            case tileHashes = "tile_hashes"
            case tiles, pixels
        }
    }

    struct VideoFrameCase: Decodable, Sendable {
        let name: String
        let config: String
        let source: Source
        let resizedHeight: Int
        let resizedWidth: Int
        let side: Int
        /// The reference (torch uint8 LANCZOS, as `SmolVLMVideoProcessor` runs it).
        let tile: Checked
        /// The same two resizes with Pillow.
        let pillowTile: Checked
        let pillowMaxDiff: Int
        let pixels: Checked

        enum CodingKeys: String, CodingKey {
            case name, config, source, side, tile, pixels
            case resizedHeight = "resized_height"
            case resizedWidth = "resized_width"
            case pillowTile = "pillow_tile"
            case pillowMaxDiff = "pillow_max_diff"
        }
    }

    struct SamplerCase: Decodable, Sendable {
        let totalFrames: Int
        let sourceFPS: Double
        let fps: Double
        let maxFrames: Int
        let indices: [Int]
        let timestamps: [Double]
        let duration: Double

        enum CodingKeys: String, CodingKey {
            case totalFrames = "total_frames"
            case sourceFPS = "source_fps"
            case fps
            case maxFrames = "max_frames"
            case indices, timestamps, duration
        }
    }

    struct PromptCase: Decodable, Sendable {
        let name: String
        let messages: [Message]
        let prompt: String
        let tokenCount: Int
        let imageTokenCount: Int
        let rows: Int?
        let cols: Int?
        let timestamps: [Double]?
        let duration: Double?

        struct Message: Decodable, Sendable {
            let role: String
            let content: [Item]
        }

        struct Item: Decodable, Sendable {
            let type: String
            let text: String?
        }

        enum CodingKeys: String, CodingKey {
            case name, messages, prompt, rows, cols, timestamps, duration
            case tokenCount = "token_count"
            case imageTokenCount = "image_token_count"
        }
    }

    struct NumberWordsCase: Decodable, Sendable {
        let number: Int
        let words: String

        init(from decoder: any Decoder) throws {
            var c = try decoder.unkeyedContainer()
            number = try c.decode(Int.self)
            words = try c.decode(String.self)
        }
    }

    /// The raw JSON bytes of `configs[name]`, for decoding as a `PreprocessorConfig`.
    func configJSON(_ name: String) throws -> Data {
        guard let config = cases.configs[name] else { throw FixtureError("no config \(name) in goldens.json") }
        return try JSONSerialization.data(withJSONObject: config.value)
    }

    /// `configs[name]` decoded.
    func config(_ name: String) throws -> PreprocessorConfig {
        try JSONDecoder().decode(PreprocessorConfig.self, from: configJSON(name))
    }
}

/// Any JSON value, kept as Foundation objects so it can be re-serialised.
struct JSONAny: Decodable, @unchecked Sendable {
    let value: Any

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            value = NSNull()
        } else if let b = try? c.decode(Bool.self) {
            value = b
        } else if let i = try? c.decode(Int.self) {
            value = i
        } else if let d = try? c.decode(Double.self) {
            value = d
        } else if let s = try? c.decode(String.self) {
            value = s
        } else if let a = try? c.decode([JSONAny].self) {
            value = a.map(\.value)
        } else {
            value = try c.decode([String: JSONAny].self).mapValues(\.value)
        }
    }
}

/// A fixture problem.
struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Safetensors

/// Just enough of the safetensors format to read the goldens: U8, F32 and I64 arrays by name.
struct SafetensorsFile: Sendable {
    struct Entry: Decodable, Sendable {
        let dtype: String
        let shape: [Int]
        let dataOffsets: [Int]
        enum CodingKeys: String, CodingKey {
            case dtype, shape
            case dataOffsets = "data_offsets"
        }
    }

    let entries: [String: Entry]
    let data: Data

    init(url: URL) throws {
        let bytes = try Data(contentsOf: url)
        guard bytes.count >= 8 else { throw FixtureError("\(url.path): too short for safetensors") }
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard 8 + headerLength <= bytes.count else { throw FixtureError("\(url.path): header runs past the end") }
        let header = bytes.subdata(in: 8..<(8 + headerLength))
        let object = try JSONSerialization.jsonObject(with: header) as? [String: Any] ?? [:]
        var entries: [String: Entry] = [:]
        for (name, value) in object where name != "__metadata__" {
            let json = try JSONSerialization.data(withJSONObject: value)
            entries[name] = try JSONDecoder().decode(Entry.self, from: json)
        }
        self.entries = entries
        data = bytes.subdata(in: (8 + headerLength)..<bytes.count)
    }

    private func entry(_ name: String, dtype: String) throws -> Entry {
        guard let entry = entries[name] else { throw FixtureError("no tensor \(name) in goldens.safetensors") }
        guard entry.dtype == dtype else { throw FixtureError("\(name) is \(entry.dtype), expected \(dtype)") }
        return entry
    }

    /// A U8 tensor's bytes.
    func bytes(_ name: String) throws -> [UInt8] {
        let e = try entry(name, dtype: "U8")
        return [UInt8](data[e.dataOffsets[0]..<e.dataOffsets[1]])
    }

    /// An F32 tensor's values.
    func floats(_ name: String) throws -> [Float] {
        let e = try entry(name, dtype: "F32")
        let raw = data[e.dataOffsets[0]..<e.dataOffsets[1]]
        return stride(from: raw.startIndex, to: raw.endIndex, by: 4).map { i in
            let bits = UInt32(raw[i]) | UInt32(raw[i + 1]) << 8 | UInt32(raw[i + 2]) << 16 | UInt32(raw[i + 3]) << 24
            return Float(bitPattern: bits)
        }
    }
}

// MARK: - Sources, hashes, samples

/// The generator's deterministic source pictures (`make_image` in make_preprocess_goldens.py), from integer formulas.
enum SourceImages {
    /// lowbias32 integer hash.
    static func mix32(_ value: UInt32) -> UInt32 {
        var v = value
        v ^= v >> 16
        v &*= 0x7FEB_352D
        v ^= v >> 15
        v &*= 0x846C_A68B
        v ^= v >> 16
        return v
    }

    /// A `width × height` picture of `kind` ("gradient", "noise" or "edges").
    static func make(_ kind: String, width w: Int, height h: Int, seed: UInt32 = 0) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                let i = (y * w + x) * 3
                var rgb: (Int, Int, Int)
                switch kind {
                case "gradient":
                    rgb = (x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 255 / max(w + h - 2, 1))
                case "noise":
                    var c3 = [0, 0, 0]
                    for c in 0..<3 {
                        let v =
                            UInt32(x) &* 0x9E37_79B1 &+ UInt32(y) &* 0x85EB_CA77 &+ UInt32(c) &* 0xC2B2_AE3D
                            &+ seed &* 0x27D4_EB2F
                        c3[c] = Int(mix32(v) & 255)
                    }
                    rgb = (c3[0], c3[1], c3[2])
                case "edges":
                    let r = ((x / 8 + y / 8) % 2) * 255
                    let g = (x * 3 + y * 2) % 17 < 8 ? 255 : 0
                    let b = (x < w / 2 ? 255 : 0) ^ (y < h / 3 ? 255 : 0)
                    rgb = (r, g, b)
                default:
                    preconditionFailure("unknown source kind \(kind)")
                }
                pixels[i] = UInt8(rgb.0)
                pixels[i + 1] = UInt8(rgb.1)
                pixels[i + 2] = UInt8(rgb.2)
            }
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }
}

/// sum((b[i] + 1) · P^(i + 1)) mod 2^64 with P = 0x100000001B3, as "0x%016x".
func polyhash64<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
    var hash: UInt64 = 0
    var power: UInt64 = 1
    for b in bytes {
        power &*= 0x100_0000_01B3
        hash &+= (UInt64(b) + 1) &* power
    }
    let hex = String(hash, radix: 16)
    return "0x" + String(repeating: "0", count: 16 - hex.count) + hex
}

/// The generator's strided sample positions: j · (n − 1) / (k − 1) for j < k = min(n, sampleCount).
func sampleIndices(count n: Int, sampleCount: Int) -> [Int] {
    let k = min(n, sampleCount)
    if k <= 1 { return [0] }
    return (0..<k).map { $0 * (n - 1) / (k - 1) }
}

/// Compares `bytes` with a stored uint8 golden: hash, samples and (when stored) every byte. Returns problems.
func compareBytes(_ bytes: [UInt8], with golden: PreprocessGoldens.Checked, in goldens: PreprocessGoldens) throws
    -> [String]
{
    var problems: [String] = []
    if bytes.count != golden.count { problems.append("count \(bytes.count) != \(golden.count)") }
    if let full = golden.full {
        let expected = try goldens.tensors.bytes(full)
        if let i = zip(bytes, expected).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            problems.append("first differing byte at \(i): \(bytes[i]) != \(expected[i])")
        }
    }
    let expectedSamples = try goldens.tensors.bytes(golden.samples)
    let positions = sampleIndices(count: golden.count, sampleCount: goldens.cases.sampleCount)
    let mismatches = zip(positions, expectedSamples).filter { $0.0 < bytes.count && bytes[$0.0] != $0.1 }
    if let first = mismatches.first {
        problems.append("\(mismatches.count) samples differ, first at \(first.0): \(bytes[first.0]) != \(first.1)")
    }
    let hash = polyhash64(bytes)
    if hash != golden.hash { problems.append("hash \(hash) != \(golden.hash)") }
    return problems
}

/// Largest |difference| between `values` and a stored float golden (every value when stored whole, else samples).
func maxFloatDifference(
    _ values: UnsafeBufferPointer<Float>, from golden: PreprocessGoldens.Checked,
    in goldens: PreprocessGoldens
) throws -> Float {
    precondition(values.count == golden.count, "float count \(values.count) != \(golden.count)")
    if let full = golden.full {
        let expected = try goldens.tensors.floats(full)
        return zip(values, expected).map { abs($0 - $1) }.max() ?? 0
    }
    let expected = try goldens.tensors.floats(golden.samples)
    let positions = sampleIndices(count: golden.count, sampleCount: goldens.cases.sampleCount)
    return zip(positions, expected).map { abs(values[$0.0] - $0.1) }.max() ?? 0
}
