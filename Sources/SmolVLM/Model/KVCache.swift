// The decoder's per-stream key/value cache: for each layer, keys and values stored head-major
// [Hkv, capacity, Hd] so each head's keys are contiguous for attention. Pre-allocated for `capacity` slots.
//
// Positions vs slots: a *slot* is where a token's K/V live in storage; its *position* is the RoPE index it was
// rotated with (`positions[slot]`). Today tokens are appended in order, so slot == position. The streaming cache
// (attention sink + windows, contiguous RoPE after eviction) builds on this by evicting slots and re-rotating keys
// to new positions; keys are stored rotated, so a re-position must rotate by the position delta (or keep pre-RoPE
// keys as the source of truth — the streaming design's choice).
//
// Element type: f32 for the fp32 (parity) path; bf16 for the faster precisions on AVX-512 CPUs (half the memory and
// the traffic that decoding streams at every token).
//
// Shape legend: L layers, Hkv key/value heads, Hd head dim, C capacity (slots).

import Kernels

/// Keys and values of every decoder layer for one stream.
public final class KVCache {
    public let layerCount: Int
    public let kvHeads: Int
    public let headDim: Int
    /// Slots available.
    public let capacity: Int
    /// Element type of keys and values (f32 or bf16).
    public let dtype: DType
    /// Per layer: [Hkv, C, Hd].
    let keys: [Tensor]
    let values: [Tensor]
    /// Slots in use (0 ..< count).
    public private(set) var count: Int = 0
    /// RoPE position of each used slot.
    public private(set) var positions: [Int32] = []

    /// Allocates a cache of `capacity` slots (zeroed).
    public init(layerCount: Int, kvHeads: Int, headDim: Int, capacity: Int, dtype: DType = .f32) {
        precondition(dtype == .f32 || dtype == .bf16, "KV caches hold f32 or bf16")
        self.layerCount = layerCount
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.capacity = capacity
        self.dtype = dtype
        keys = (0..<layerCount).map { _ in Tensor(zeros: [kvHeads, capacity, headDim], dtype: dtype) }
        values = (0..<layerCount).map { _ in Tensor(zeros: [kvHeads, capacity, headDim], dtype: dtype) }
        positions.reserveCapacity(capacity)
    }

    /// Bytes held by keys and values.
    public var byteCount: Int { 2 * layerCount * kvHeads * capacity * headDim * dtype.size }

    /// Free slots.
    public var remaining: Int { capacity - count }

    /// Forgets every token (storage is kept).
    public func reset() {
        count = 0
        positions.removeAll(keepingCapacity: true)
    }

    /// Forgets the tokens in slots `newCount ..< count`.
    public func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count, "truncate beyond the cache")
        count = newCount
        positions.removeLast(positions.count - newCount)
    }

    /// Writes token-major k, v (rows `rowStride` floats apart, Hkv·Hd values each) of `layer` into slots
    /// count ..< count + T (the tokens are committed by `commit(positions:)` once every layer has written).
    func write(layer: Int, k ks: UnsafePointer<Float>, v vs: UnsafePointer<Float>, rowStride rowWidth: Int, tokens: Int) {
        precondition(count + tokens <= capacity, "KV cache overflow")
        for t in 0..<tokens {
            for j in 0..<kvHeads {
                let dst = (j * capacity + count + t) * headDim
                let src = t * rowWidth + j * headDim
                if dtype == .bf16 {
                    let kd = keys[layer].raw.assumingMemoryBound(to: UInt16.self)
                    let vd = values[layer].raw.assumingMemoryBound(to: UInt16.self)
                    Conversions.toBF16(ks + src, count: headDim, into: kd + dst)
                    Conversions.toBF16(vs + src, count: headDim, into: vd + dst)
                } else {
                    (keys[layer].floats + dst).update(from: ks + src, count: headDim)
                    (values[layer].floats + dst).update(from: vs + src, count: headDim)
                }
            }
        }
    }

    /// Marks the tokens just written by every layer as used, with their positions.
    func commit(positions newPositions: UnsafeBufferPointer<Int32>) {
        count += newPositions.count
        for p in newPositions { positions.append(p) }
    }

    /// Marks one token written by every layer as used.
    func commit(position: Int32) {
        count += 1
        positions.append(position)
    }

    /// Layer `layer`'s keys as seen by attention.
    func keyView(layer: Int) -> HeadMajorView {
        HeadMajorView(base: keys[layer].raw, dtype: dtype, headStride: capacity * headDim, rowStride: headDim)
    }

    /// Layer `layer`'s values as seen by attention.
    func valueView(layer: Int) -> HeadMajorView {
        HeadMajorView(base: values[layer].raw, dtype: dtype, headStride: capacity * headDim, rowStride: headDim)
    }
}
