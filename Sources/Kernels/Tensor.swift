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

/// A shaped view of contiguous storage.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    /// Dimensions, outermost first.
    public private(set) var shape: [Int]
    /// Element type.
    public let dtype: DType
    /// The memory the elements live in.
    public let storage: TensorStorage
    /// Where the elements start in `storage`, in bytes.
    public let byteOffset: Int

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Size of the data in bytes.
    public var byteCount: Int { count * dtype.size }

    /// A new zero-filled tensor.
    public init(zeros shape: [Int], dtype: DType = .f32) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.dtype = dtype
        storage = TensorStorage(byteCount: shape.reduce(1, *) * dtype.size)
        byteOffset = 0
    }

    /// A new f32 tensor holding `values` (row-major).
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { src in
            storage.base.copyMemory(from: src.baseAddress!, byteCount: src.count * 4)
        }
    }

    /// A view of `storage` from `byteOffset` with `shape` and `dtype` (no copy).
    public init(shape: [Int], dtype: DType, storage: TensorStorage, byteOffset: Int = 0) {
        precondition(byteOffset + shape.reduce(1, *) * dtype.size <= storage.byteCount, "view exceeds its storage")
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
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(newShape.reduce(1, *) == count, "cannot reshape \(shape) to \(newShape)")
        var t = self
        t.shape = newShape
        return t
    }

    /// Rows `range` of the first dimension (no copy).
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(!shape.isEmpty && range.lowerBound >= 0 && range.upperBound <= shape[0], "rows out of range")
        let rowElements = shape.dropFirst().reduce(1, *)
        return Tensor(
            shape: [range.count] + shape.dropFirst(), dtype: dtype, storage: storage,
            byteOffset: byteOffset + range.lowerBound * rowElements * dtype.size)
    }

    /// Row `index` of the first dimension, as a tensor of the remaining dimensions (no copy).
    public subscript(index: Int) -> Tensor {
        rows(index..<(index + 1)).reshaped(Array(shape.dropFirst()))
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

    /// Copies `other`'s elements (same count and dtype) into this tensor.
    public func copy(from other: Tensor) {
        precondition(other.count == count && other.dtype == dtype, "copy between \(other.shape) and \(shape)")
        raw.copyMemory(from: other.raw, byteCount: byteCount)
    }

    public var description: String { "Tensor(\(dtype), \(shape))" }
}
