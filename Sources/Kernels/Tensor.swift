// The runtime's tensor: a shape over contiguous, 64-byte-aligned storage. A `Tensor` is a handle: copies share
// storage, and kernels write into tensors they are given (outputs are pre-allocated by their owners, so steady-state
// inference allocates nothing). Weights are tensors that nobody writes after load; they may borrow memory-mapped
// file bytes. Layout is row-major; the last dimension is contiguous.
//
// Element types: f32 (compute and parity), bf16 and f16 (storage and bf16 matmuls), i8 (quantised weights with
// separate scales). Only f32 tensors expose `floats`.

import Foundation

/// Element type of a tensor.
public enum DType: String, Sendable, CaseIterable {
    case f32, f16, bf16, i8

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .i8: return 1
        }
    }
}

/// Memory behind tensors: owned (aligned, zeroed allocation) or borrowed (e.g. a memory-mapped file kept alive by
/// `owner`).
public final class TensorStorage: @unchecked Sendable {
    /// Start of the bytes.
    public let base: UnsafeMutableRawPointer
    /// Length in bytes.
    public let byteCount: Int
    private let owner: AnyObject?
    private let ownsMemory: Bool

    /// Allocates `byteCount` zeroed bytes aligned to 64.
    public init(byteCount: Int) {
        let size = max(byteCount, 64)
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, 64, size) == 0, let pointer else {
            fatalError("out of memory allocating \(byteCount) bytes")
        }
        memset(pointer, 0, size)
        base = pointer
        self.byteCount = byteCount
        owner = nil
        ownsMemory = true
    }

    /// Borrows `byteCount` bytes at `base`, keeping `owner` alive for as long as this storage lives.
    public init(borrowing base: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject?) {
        self.base = base
        self.byteCount = byteCount
        self.owner = owner
        ownsMemory = false
    }

    deinit {
        if ownsMemory { free(base) }
    }
}

/// Dimensions of a tensor, outermost first: up to 6, stored inline (making or changing a shape never allocates,
/// so views can be taken in steady-state inference).
public struct Shape: RandomAccessCollection, MutableCollection, Hashable, Sendable, ExpressibleByArrayLiteral,
    CustomStringConvertible
{
    /// Most dimensions a shape holds.
    public static let maxRank = 6
    private var d0 = 0, d1 = 0, d2 = 0, d3 = 0, d4 = 0, d5 = 0
    /// Number of dimensions.
    public private(set) var rank = 0

    /// A shape of the given dimensions.
    public init<S: Sequence>(_ dimensions: S) where S.Element == Int {
        for d in dimensions {
            precondition(rank < Self.maxRank, "shapes have at most \(Self.maxRank) dimensions")
            rank += 1
            self[rank - 1] = d
        }
    }

    public init(arrayLiteral elements: Int...) { self.init(elements) }

    /// A 1-D shape (non-generic: no allocation even unoptimised).
    public init(_ a: Int) {
        rank = 1
        d0 = a
    }

    /// A 2-D shape.
    public init(_ a: Int, _ b: Int) {
        rank = 2
        d0 = a
        d1 = b
    }

    /// A 3-D shape.
    public init(_ a: Int, _ b: Int, _ c: Int) {
        rank = 3
        d0 = a
        d1 = b
        d2 = c
    }

    /// The innermost dimension.
    public var innermost: Int { self[rank - 1] }

    /// The shape without its outermost dimension.
    public var droppingOutermost: Shape {
        var out = Shape()
        out.rank = rank - 1
        for i in 1..<rank { out[i - 1] = self[i] }
        return out
    }

    /// Product of the dimensions after the outermost.
    public var innerCount: Int {
        var n = 1
        for i in 1..<rank { n *= self[i] }
        return n
    }

    /// Whether the shape is exactly (a, b, c) — a non-allocating comparison for hot-path checks.
    public func `is`(_ a: Int, _ b: Int, _ c: Int) -> Bool { rank == 3 && d0 == a && d1 == b && d2 == c }

    private init() {}

    public var startIndex: Int { 0 }
    public var endIndex: Int { rank }

    public subscript(position: Int) -> Int {
        get {
            precondition(position >= 0 && position < rank, "shape index \(position) out of range")
            switch position {
            case 0: return d0
            case 1: return d1
            case 2: return d2
            case 3: return d3
            case 4: return d4
            default: return d5
            }
        }
        set {
            precondition(position >= 0 && position < rank, "shape index \(position) out of range")
            switch position {
            case 0: d0 = newValue
            case 1: d1 = newValue
            case 2: d2 = newValue
            case 3: d3 = newValue
            case 4: d4 = newValue
            default: d5 = newValue
            }
        }
    }

    /// Product of the dimensions.
    public var elementCount: Int {
        var n = 1
        for i in 0..<rank { n *= self[i] }
        return n
    }

    public static func == (a: Shape, b: Shape) -> Bool { a.elementsEqual(b) }
    public static func == (a: Shape, b: [Int]) -> Bool { a.elementsEqual(b) }
    public static func == (a: [Int], b: Shape) -> Bool { a.elementsEqual(b) }
    public static func != (a: Shape, b: [Int]) -> Bool { !a.elementsEqual(b) }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(rank)
        for d in self { hasher.combine(d) }
    }

    public var description: String { "[" + map(String.init).joined(separator: ", ") + "]" }
}

/// A shaped view of contiguous storage.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    /// Dimensions, outermost first.
    public private(set) var shape: Shape
    /// Element type.
    public let dtype: DType
    /// The memory the elements live in.
    public let storage: TensorStorage
    /// Where the elements start in `storage`, in bytes.
    public let byteOffset: Int

    /// Number of elements.
    public var count: Int { shape.elementCount }

    /// Size of the data in bytes.
    public var byteCount: Int { count * dtype.size }

    /// A new zero-filled tensor.
    public init(zeros shape: Shape, dtype: DType = .f32) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.dtype = dtype
        storage = TensorStorage(byteCount: shape.elementCount * dtype.size)
        byteOffset = 0
    }

    /// A new zero-filled tensor.
    public init(zeros shape: [Int], dtype: DType = .f32) {
        self.init(zeros: Shape(shape), dtype: dtype)
    }

    /// A new f32 tensor holding `values` (row-major).
    public init(shape: Shape, values: [Float]) {
        precondition(shape.elementCount == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { src in
            storage.base.copyMemory(from: src.baseAddress!, byteCount: src.count * 4)
        }
    }

    /// A view of `storage` from `byteOffset` with `shape` and `dtype` (no copy).
    public init(shape: Shape, dtype: DType, storage: TensorStorage, byteOffset: Int = 0) {
        precondition(byteOffset + shape.elementCount * dtype.size <= storage.byteCount, "view exceeds its storage")
        self.shape = shape
        self.dtype = dtype
        self.storage = storage
        self.byteOffset = byteOffset
    }

    /// Raw start of the elements.
    public var raw: UnsafeMutableRawPointer { storage.base + byteOffset }

    /// The elements of an f32 tensor.
    public var floats: UnsafeMutablePointer<Float> {
        precondition(dtype == .f32, "floats of a \(dtype) tensor")
        return raw.assumingMemoryBound(to: Float.self)
    }

    /// The same elements with another shape of equal count (no copy).
    public func reshaped(_ newShape: Shape) -> Tensor {
        precondition(newShape.elementCount == count, "cannot reshape \(shape) to \(newShape)")
        var t = self
        t.shape = newShape
        return t
    }

    /// Rows `range` of the first dimension (no copy).
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(!shape.isEmpty && range.lowerBound >= 0 && range.upperBound <= shape[0], "rows out of range")
        let rowElements = shape.innerCount
        var viewShape = shape
        viewShape[0] = range.count
        return Tensor(
            shape: viewShape, dtype: dtype, storage: storage,
            byteOffset: byteOffset + range.lowerBound * rowElements * dtype.size)
    }

    /// Row `index` of the first dimension, as a tensor of the remaining dimensions (no copy).
    public subscript(index: Int) -> Tensor {
        rows(index..<(index + 1)).reshaped(shape.droppingOutermost)
    }

    /// The elements as f32 values (converting from f16/bf16 if needed).
    public func toArray() -> [Float] {
        switch dtype {
        case .f32:
            return Array(UnsafeBufferPointer(start: floats, count: count))
        case .bf16:
            let p = raw.assumingMemoryBound(to: UInt16.self)
            return (0..<count).map { Float(bitPattern: UInt32(p[$0]) << 16) }
        case .f16:
            let p = raw.assumingMemoryBound(to: Float16.self)
            return (0..<count).map { Float(p[$0]) }
        case .i8:
            let p = raw.assumingMemoryBound(to: Int8.self)
            return (0..<count).map { Float(p[$0]) }
        }
    }

    /// A new f32 tensor with the same values (converting from f16/bf16 if needed).
    public func toF32() -> Tensor {
        if dtype == .f32 {
            let copy = Tensor(zeros: shape)
            copy.raw.copyMemory(from: raw, byteCount: byteCount)
            return copy
        }
        return Tensor(shape: shape, values: toArray())
    }

    /// Whether the storage from this tensor's start holds at least `rows` rows of `width` elements.
    public func roomFor(rows: Int, width: Int) -> Bool {
        storage.byteCount - byteOffset >= rows * width * dtype.size
    }

    /// Copies `other`'s elements (same count and dtype) into this tensor.
    public func copy(from other: Tensor) {
        precondition(other.count == count && other.dtype == dtype, "copy between \(other.shape) and \(shape)")
        raw.copyMemory(from: other.raw, byteCount: byteCount)
    }

    public var description: String { "Tensor(\(dtype), \(shape))" }
}

extension Tensor {
    /// A new f32 tensor holding `values` (row-major).
    public init(shape: [Int], values: [Float]) { self.init(shape: Shape(shape), values: values) }

    /// A view of `storage` (no copy).
    public init(shape: [Int], dtype: DType, storage: TensorStorage, byteOffset: Int = 0) {
        self.init(shape: Shape(shape), dtype: dtype, storage: storage, byteOffset: byteOffset)
    }

    /// The same elements with another shape of equal count (no copy).
    public func reshaped(_ newShape: [Int]) -> Tensor { reshaped(Shape(newShape)) }
}
