// GGUF tensor table entries and the ggml tensor types they name (ggml.h `enum ggml_type`; block sizes and bytes
// per block from ggml's type traits). Dimensions are stored ggml-style, innermost first (`ne[0]` is the contiguous
// one); `shape` gives them PyTorch-style, outermost first, over the same row-major bytes.

/// A ggml tensor type. Unknown ids are kept so the table can name them in errors.
public struct GGUFTensorType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The id as stored in the file.
    public let rawValue: UInt32

    /// The type with id `rawValue`.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let f32 = GGUFTensorType(rawValue: 0)
    public static let f16 = GGUFTensorType(rawValue: 1)
    public static let q4_0 = GGUFTensorType(rawValue: 2)
    public static let q4_1 = GGUFTensorType(rawValue: 3)
    public static let q5_0 = GGUFTensorType(rawValue: 6)
    public static let q5_1 = GGUFTensorType(rawValue: 7)
    public static let q8_0 = GGUFTensorType(rawValue: 8)
    public static let q4_K = GGUFTensorType(rawValue: 12)
    public static let q6_K = GGUFTensorType(rawValue: 14)
    public static let bf16 = GGUFTensorType(rawValue: 30)

    /// Name, elements per block and bytes per block of every type ggml defines (ids 4, 5, 31–33 and 36–38 were
    /// removed from ggml and never appear in files).
    private static let traits: [UInt32: (name: String, blockSize: Int, blockBytes: Int)] = [
        0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
        6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
        10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
        14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74),
        18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
        22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4),
        27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54),
        35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
    ]

    /// The types `GGUFFile.loadTensor` dequantises to f32.
    public static let dequantizable: Set<GGUFTensorType> = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1]

    /// ggml's name (`Q4_1`), or `type 77` for an id ggml does not define.
    public var name: String { Self.traits[rawValue]?.name ?? "type \(rawValue)" }

    /// Whether ggml defines this type (so its size in the file is known).
    public var isKnown: Bool { Self.traits[rawValue] != nil }

    /// Whether `GGUFFile.loadTensor` can dequantise this type.
    public var isDequantizable: Bool { Self.dequantizable.contains(self) }

    /// Elements per block (1 for plain types); nil for an unknown type.
    public var blockSize: Int? { Self.traits[rawValue]?.blockSize }

    /// Bytes per block; nil for an unknown type.
    public var blockBytes: Int? { Self.traits[rawValue]?.blockBytes }

    public var description: String { name }
}

/// One entry of a GGUF file's tensor table.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor's name in the file (`blk.0.attn_q.weight`).
    public let name: String
    /// ggml dimensions, innermost (contiguous) first: `ne[0]`, `ne[1]`, ….
    public let dimensions: [Int]
    /// How the elements are stored.
    public let type: GGUFTensorType
    /// Where the data starts, relative to the file's data section.
    public let offset: Int
    /// Number of elements.
    public let elementCount: Int
    /// Bytes the data takes in the file.
    public let byteCount: Int

    /// Dimensions PyTorch-style, outermost first (a Linear weight is `[out, in]`).
    public var shape: [Int] { dimensions.reversed() }
}
