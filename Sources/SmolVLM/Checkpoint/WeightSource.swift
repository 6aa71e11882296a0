// Where a model's tensors come from (safetensors files of a Hugging Face folder, or a GGUF file converted to
// Hugging Face names), and the checked loader that builds layers from them: every expected tensor is looked up
// with its expected shape, and all problems — missing, mis-shaped, unused — are reported in one error.

import Foundation
import Kernels

/// Named f32 tensors of a checkpoint.
public protocol WeightSource: Sendable {
    /// Where the tensors come from, for messages.
    var location: String { get }
    /// Every tensor name.
    var names: Set<String> { get }
    /// Shape of `name`, if present.
    func shape(of name: String) -> [Int]?
    /// The tensor `name` as f32 (converted if stored otherwise).
    func tensor(_ name: String) -> Tensor?
}

/// The tensors of one or more `.safetensors` files (a sharded checkpoint has an index naming each tensor's file).
public struct SafeTensorsWeights: WeightSource {
    public let location: String
    private let files: [SafeTensorsFile]
    private let fileOfTensor: [String: Int]

    /// Opens `model.safetensors`, or the shards listed by `model.safetensors.index.json`, in `folder`.
    public init(folder: URL) throws {
        location = folder.path
        let single = folder.appendingPathComponent("model.safetensors")
        let index = folder.appendingPathComponent("model.safetensors.index.json")
        var files: [SafeTensorsFile] = []
        if FileManager.default.fileExists(atPath: single.path) {
            files = [try SafeTensorsFile(url: single)]
        } else if FileManager.default.fileExists(atPath: index.path) {
            guard let data = try? Data(contentsOf: index),
                let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let map = json["weight_map"] as? [String: String]
            else {
                throw CheckpointError(
                    location: index.path, problems: ["not a valid safetensors index (no weight_map object)"])
            }
            for shard in Set(map.values).sorted() {
                // A shard is a file of this folder: a name that climbs out of it (or is absolute) is refused.
                let components = shard.split(separator: "/", omittingEmptySubsequences: false)
                guard !shard.hasPrefix("/"), !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." })
                else {
                    throw CheckpointError(
                        location: index.path,
                        problems: ["weight_map names the shard '\(shard)', which is not a file in the model folder"],
                        hint: "The index is damaged or hostile; download the model again.")
                }
                files.append(try SafeTensorsFile(url: folder.appendingPathComponent(shard)))
            }
        } else {
            throw CheckpointError(
                location: folder.path, problems: ["no model.safetensors (or model.safetensors.index.json) in the folder"],
                hint: "Point --model at a Hugging Face SmolVLM folder, a hub id, or a .gguf file.")
        }
        var fileOfTensor: [String: Int] = [:]
        for (i, f) in files.enumerated() {
            for name in f.entries.keys { fileOfTensor[name] = i }
        }
        self.files = files
        self.fileOfTensor = fileOfTensor
    }

    public var names: Set<String> { Set(fileOfTensor.keys) }

    public func shape(of name: String) -> [Int]? {
        fileOfTensor[name].flatMap { files[$0].entries[name]?.shape }
    }

    public func tensor(_ name: String) -> Tensor? {
        fileOfTensor[name].flatMap { files[$0].floatTensor(name) }
    }
}

/// Tensors held in memory by name (GGUF conversions, random weights, tests).
public struct InMemoryWeights: WeightSource {
    public let location: String
    public let tensors: [String: Tensor]

    public init(location: String, tensors: [String: Tensor]) {
        self.location = location
        self.tensors = tensors
    }

    public var names: Set<String> { Set(tensors.keys) }
    public func shape(of name: String) -> [Int]? { tensors[name].map { Array($0.shape) } }
    public func tensor(_ name: String) -> Tensor? { tensors[name] }
}

/// Takes tensors from a source by name and expected shape, recording every problem instead of stopping at the
/// first, so one error can list them all.
public final class CheckedWeights {
    public let source: any WeightSource
    private(set) var problems: [String] = []
    private var used: Set<String> = []
    /// Names that may be present without being used (buffers some versions save).
    private let ignorable: [String] = ["position_ids", "rotary_emb.inv_freq"]
    /// When set, every tensor is synthesised (random weights of exactly the requested shapes).
    private let randomSeed: UInt64?
    /// When true, nothing is read or allocated: requests are only recorded (see `expectedShapes`).
    private let recordsOnly: Bool
    /// Every tensor requested, with its shape.
    private(set) var requested: [String: [Int]] = [:]
    /// Tensors asked for only if present (`takeIfPresent`), with their shape, when recording.
    private(set) var requestedIfPresent: [String: [Int]] = [:]

    public init(_ source: any WeightSource) {
        self.source = source
        randomSeed = nil
        recordsOnly = false
    }

    /// Records the names and shapes a model asks for without reading or allocating weights; the tensors handed
    /// out are shape-only placeholders that must never be read.
    init(recordingShapesAt location: String) {
        source = InMemoryWeights(location: location, tensors: [:])
        randomSeed = nil
        recordsOnly = true
    }

    /// Synthesises every requested tensor from `seed`: norm weights 1, biases 0, other tensors uniform with the
    /// spread of a 0.02-std initialiser. For benchmarks: the real shapes without any download.
    public init(randomSeed seed: UInt64, location: String) {
        source = InMemoryWeights(location: location, tensors: [:])
        randomSeed = seed
        recordsOnly = false
    }

    private static let placeholder = TensorStorage(byteCount: 64)

    /// The tensor `name` with exactly `shape`; a zero placeholder of that shape (and a recorded problem) otherwise.
    public func take(_ name: String, _ shape: [Int]) -> Tensor {
        used.insert(name)
        requested[name] = shape
        if recordsOnly {
            let claimed = TensorStorage(
                borrowing: Self.placeholder.base, byteCount: shape.reduce(1, *) * 4, owner: Self.placeholder)
            return Tensor(shape: shape, dtype: .f32, storage: claimed)
        }
        if let seed = randomSeed { return Self.synthesise(name, shape, seed: seed) }
        guard let actual = source.shape(of: name) else {
            problems.append("missing tensor \(name) \(shape)")
            return Tensor(zeros: shape.map { max(0, $0) })
        }
        // A [N, 1, …] or flattened match is still a mismatch: shapes must be exact.
        guard actual == shape else {
            problems.append("tensor \(name) has shape \(actual), expected \(shape)")
            return Tensor(zeros: shape.map { max(0, $0) })
        }
        guard let t = source.tensor(name) else {
            problems.append("tensor \(name) has an unsupported element type")
            return Tensor(zeros: shape)
        }
        return t
    }

    /// The tensor if present (recording a shape problem if it is there with another shape).
    public func takeIfPresent(_ name: String, _ shape: [Int]) -> Tensor? {
        if randomSeed != nil { return take(name, shape) }
        if recordsOnly {
            requestedIfPresent[name] = shape
            return nil
        }
        guard source.shape(of: name) != nil else { return nil }
        return take(name, shape)
    }

    /// A linear layer `prefix.weight` [out, in] (+ `prefix.bias` [out] when `bias`).
    public func linear(_ prefix: String, out: Int, in inFeatures: Int, bias: Bool) -> Linear {
        let w = take(prefix + ".weight", [out, inFeatures])
        let b = bias ? take(prefix + ".bias", [out]) : nil
        return Linear(weight: w, bias: b)
    }

    private static func synthesise(_ name: String, _ shape: [Int], seed: UInt64) -> Tensor {
        if name.hasSuffix(".bias") { return Tensor(zeros: shape) }
        if name.contains("norm") { return Tensor.filled(shape, 1) }
        // FNV-1a of the name, so each tensor has its own stream and order of loading does not matter.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        let scale: Float = name.contains("embed") ? 1 : 0.0346  // uniform ±0.0346 has std 0.02
        return Tensor.random(shape, seed: hash ^ seed, scale: scale)
    }

    /// Several layers stacked into one (see `Linear.stacking`); shape-only placeholders stay placeholders.
    public func stacked(_ parts: [Linear]) -> Linear {
        if recordsOnly {
            let n = parts.reduce(0) { $0 + $1.outFeatures }
            let k = parts[0].inFeatures
            let claimed = TensorStorage(borrowing: Self.placeholder.base, byteCount: n * k * 4, owner: Self.placeholder)
            let bias = parts[0].bias.map { _ in
                Tensor(shape: Shape(n), dtype: .f32, storage: TensorStorage(borrowing: Self.placeholder.base, byteCount: n * 4, owner: Self.placeholder))
            }
            return Linear(weight: Tensor(shape: Shape(n, k), dtype: .f32, storage: claimed), bias: bias)
        }
        return Linear.stacking(parts)
    }

    /// Checks the source against every tensor a model will take (`required`, and `optional` ones when present)
    /// before any is read or built, and throws one `CheckpointError` with every missing, mis-shaped and unexpected
    /// tensor. So a config that claims sizes the file does not hold is an error, never an allocation of what the
    /// config claims. Nothing is checked when tensors are synthesised.
    func checkBeforeLoading(required: [String: [Int]], optional: [String: [Int]]) throws {
        guard randomSeed == nil, !recordsOnly else { return }
        var problems: [String] = []
        for (name, shape) in required.sorted(by: { $0.key < $1.key }) {
            guard let actual = source.shape(of: name) else {
                problems.append("missing tensor \(name) \(shape)")
                continue
            }
            if actual != shape { problems.append("tensor \(name) has shape \(actual), expected \(shape)") }
        }
        for (name, shape) in optional.sorted(by: { $0.key < $1.key }) where required[name] == nil {
            if let actual = source.shape(of: name), actual != shape {
                problems.append("tensor \(name) has shape \(actual), expected \(shape)")
            }
        }
        guard !problems.isEmpty else { return }
        let unused = source.names.filter { name in
            required[name] == nil && optional[name] == nil && !ignorable.contains { name.hasSuffix($0) }
        }
        if !unused.isEmpty {
            let sorted = unused.sorted()
            problems.append(
                "\(unused.count) unexpected tensor(s): " + sorted.prefix(5).joined(separator: ", ")
                    + (sorted.count > 5 ? ", …" : ""))
        }
        throw CheckpointError(
            location: source.location, problems: problems,
            hint: "The weights do not match config.json: the checkpoint is damaged or of another architecture.")
    }

    /// Records a problem that is not about one tensor.
    public func record(_ problem: String) { problems.append(problem) }

    /// Throws one `CheckpointError` with every problem, including tensors present but never used.
    public func finish() throws {
        let unused = source.names.subtracting(used).filter { name in !ignorable.contains { name.hasSuffix($0) } }
        var all = problems
        if !unused.isEmpty {
            let sorted = unused.sorted()
            all.append(
                "\(unused.count) unexpected tensor(s): " + sorted.prefix(5).joined(separator: ", ")
                    + (sorted.count > 5 ? ", …" : ""))
        }
        if !all.isEmpty {
            throw CheckpointError(
                location: source.location, problems: all,
                hint: "The weights do not match config.json: the checkpoint is damaged or of another architecture.")
        }
    }
}
