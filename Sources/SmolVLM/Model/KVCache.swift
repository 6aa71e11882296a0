// The decoder's per-stream key/value storage: for each layer, keys and values stored head-major [Hkv, C, Hd] so each
// head's keys are contiguous for attention, pre-allocated for C slots.
//
// Slots and positions. A *slot* is where a token's K/V live; its *position* is the RoPE index its key was rotated
// with (`position(ofSlot:)`). Attention reads slots 0 ..< count: the order of slots does not matter to it, only the
// causal mask of the new tokens does (they always take the next slots, after every cached one). The flat use —
// `vigil generate`, the parity tests — appends in order, so slot == position. The streaming cache (Streaming's
// `StreamingKVCache`, attention sink + windows with contiguous RoPE) removes ranges of slots and gives the
// survivors new positions; for that the storage keeps each key's **pre-RoPE copy** (f32, `keepsPreRoPEKeys`) as the
// source of truth and re-rotates the stored copy from it (`reposition`), never rotating a rotated key again.
//
// Element type: f32 for the fp32 (parity) path; bf16 for the faster precisions on AVX-512 CPUs (half the memory and
// the traffic that decoding streams at every token). Pre-RoPE keys are always f32.
//
// Shape legend: L layers, Hkv key/value heads, Hd head dim, C capacity (slots).

import Kernels

/// What the decoder needs from a cache: its slot storage, and the RoPE position the next token takes.
///
/// `KVCache` itself is the flat cache (positions follow slots). Streaming's block cache keeps positions apart from
/// slots while a temporary retrieval view is spliced in.
public protocol DecoderCache: AnyObject {
    /// The slot storage attention reads and new tokens are written to.
    var storage: KVCache { get }
    /// The logical (RoPE) position of the next appended token.
    var nextPosition: Int { get }
}

/// Keys and values of every decoder layer for one stream.
public final class KVCache: DecoderCache {
    public let layerCount: Int
    public let kvHeads: Int
    public let headDim: Int
    /// Slots available.
    public let capacity: Int
    /// Element type of keys and values (f32 or bf16).
    public let dtype: DType
    /// Whether each key's pre-RoPE value is kept (needed to re-position tokens).
    public let keepsPreRoPEKeys: Bool
    /// Per layer: [Hkv, C, Hd], keys rotated at their positions.
    let keys: [Tensor]
    let values: [Tensor]
    /// Per layer: [Hkv, C, Hd] f32 keys before RoPE (empty unless `keepsPreRoPEKeys`).
    let preRoPEKeys: [Tensor]
    /// Slots in use (0 ..< count).
    public private(set) var count: Int = 0
    /// Position of each slot (capacity entries; 0 ..< count are meaningful).
    private let slotPositions: UnsafeMutablePointer<Int32>
    /// Tokens ever committed by the model (prefill and decode), not counting re-positions or imports.
    public private(set) var computedTokens = 0
    /// Scratch for re-rotation.
    private let rotateScratch: UnsafeMutablePointer<Float>

    /// Allocates a cache of `capacity` slots (zeroed).
    public init(
        layerCount: Int, kvHeads: Int, headDim: Int, capacity: Int, dtype: DType = .f32,
        keepsPreRoPEKeys: Bool = false
    ) {
        precondition(dtype == .f32 || dtype == .bf16, "KV caches hold f32 or bf16")
        self.layerCount = layerCount
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.capacity = capacity
        self.dtype = dtype
        self.keepsPreRoPEKeys = keepsPreRoPEKeys
        keys = (0..<layerCount).map { _ in Tensor(zeros: [kvHeads, capacity, headDim], dtype: dtype) }
        values = (0..<layerCount).map { _ in Tensor(zeros: [kvHeads, capacity, headDim], dtype: dtype) }
        preRoPEKeys = keepsPreRoPEKeys ? (0..<layerCount).map { _ in Tensor(zeros: [kvHeads, capacity, headDim]) } : []
        slotPositions = .allocate(capacity: max(1, capacity))
        slotPositions.initialize(repeating: 0, count: max(1, capacity))
        rotateScratch = .allocate(capacity: RotaryEmbedding.storeScratchFloats(headDim: headDim))
    }

    deinit {
        slotPositions.deallocate()
        rotateScratch.deallocate()
    }

    // MARK: - DecoderCache

    public var storage: KVCache { self }

    /// Flat use: the next token's position is its slot.
    public var nextPosition: Int { count }

    // MARK: - Sizes

    /// Bytes held by keys, values and pre-RoPE keys.
    public var byteCount: Int {
        layerCount * kvHeads * capacity * headDim * (2 * dtype.size + (keepsPreRoPEKeys ? 4 : 0))
    }

    /// Values (K and V) one token occupies across layers.
    public var valuesPerToken: Int { 2 * layerCount * kvHeads * headDim }

    /// Free slots.
    public var remaining: Int { capacity - count }

    /// The RoPE position of `slot` (0 ..< count).
    public func position(ofSlot slot: Int) -> Int {
        precondition(slot >= 0 && slot < count, "slot \(slot) is not in use")
        return Int(slotPositions[slot])
    }

    /// The positions of slots 0 ..< count (allocates; for tests and status).
    public var positions: [Int32] { Array(UnsafeBufferPointer(start: slotPositions, count: count)) }

    // MARK: - Writing (the decoder)

    /// Forgets every token (storage is kept).
    public func reset() {
        count = 0
    }

    /// Forgets the tokens in slots `newCount ..< count`.
    public func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count, "truncate beyond the cache")
        count = newCount
    }

    /// Stores the pre-RoPE keys of `tokens` new tokens of `layer` (token-major rows `rowStride` floats apart) into
    /// slots count ..< count + tokens. No-op unless `keepsPreRoPEKeys`.
    func writePreRoPEKeys(layer: Int, k ks: UnsafePointer<Float>, rowStride: Int, tokens: Int) {
        guard keepsPreRoPEKeys else { return }
        precondition(count + tokens <= capacity, "KV cache overflow")
        let raw = preRoPEKeys[layer].floats
        for t in 0..<tokens {
            for j in 0..<kvHeads {
                (raw + (j * capacity + count + t) * headDim).update(from: ks + t * rowStride + j * headDim, count: headDim)
            }
        }
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
        precondition(count + newPositions.count <= capacity, "KV cache overflow")
        for i in 0..<newPositions.count { slotPositions[count + i] = newPositions[i] }
        count += newPositions.count
        computedTokens += newPositions.count
    }

    /// Marks one token written by every layer as used.
    func commit(position: Int32) {
        precondition(count < capacity, "KV cache overflow")
        slotPositions[count] = position
        count += 1
        computedTokens += 1
    }

    /// Layer `layer`'s keys as seen by attention.
    func keyView(layer: Int) -> HeadMajorView {
        HeadMajorView(base: keys[layer].raw, dtype: dtype, headStride: capacity * headDim, rowStride: headDim)
    }

    /// Layer `layer`'s values as seen by attention.
    func valueView(layer: Int) -> HeadMajorView {
        HeadMajorView(base: values[layer].raw, dtype: dtype, headStride: capacity * headDim, rowStride: headDim)
    }

    // MARK: - Re-positioning (the streaming cache)

    /// Removes slots `range`: later slots move down to close the gap (their pre-RoPE keys, values and positions
    /// move; their rotated keys must be refreshed with `reposition` before attention reads them).
    public func removeSlots(_ range: Range<Int>) {
        precondition(keepsPreRoPEKeys, "removing slots needs the pre-RoPE keys")
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "removeSlots: \(range) outside 0..<\(count)")
        let n = range.count
        guard n > 0 else { return }
        let tail = count - range.upperBound
        if tail > 0 {
            for l in 0..<layerCount {
                for j in 0..<kvHeads {
                    let head = j * capacity
                    let raw = preRoPEKeys[l].floats
                    (raw + (head + range.lowerBound) * headDim).update(
                        from: raw + (head + range.upperBound) * headDim, count: tail * headDim)
                    let size = dtype.size
                    let v = values[l].raw
                    (v + (head + range.lowerBound) * headDim * size).copyMemory(
                        from: v + (head + range.upperBound) * headDim * size, byteCount: tail * headDim * size)
                }
            }
            (slotPositions + range.lowerBound).update(from: slotPositions + range.upperBound, count: tail)
        }
        count -= n
    }

    /// Gives slots `slots` the consecutive positions from `start` and re-rotates their keys from the pre-RoPE copies
    /// with `rope` (bit-identical to rotating the same keys in a prefill at those positions).
    public func reposition(_ slots: Range<Int>, startingAt start: Int, rope: RotaryEmbedding) {
        precondition(keepsPreRoPEKeys, "re-positioning needs the pre-RoPE keys")
        precondition(slots.lowerBound >= 0 && slots.upperBound <= count, "reposition: \(slots) outside 0..<\(count)")
        guard !slots.isEmpty else { return }
        precondition(start >= 0 && start + slots.count <= rope.maxPositions, "reposition: positions beyond RoPE table")
        for s in slots.lowerBound..<slots.upperBound { slotPositions[s] = Int32(start + s - slots.lowerBound) }
        rerotate(slots, rope: rope)
    }

    /// Re-rotates the keys of `slots` at their current positions.
    func rerotate(_ slots: Range<Int>, rope: RotaryEmbedding) {
        for l in 0..<layerCount {
            for j in 0..<kvHeads {
                let offset = (j * capacity + slots.lowerBound) * headDim
                rope.store(
                    preRoPEKeys[l].floats + offset, into: keys[l].raw + offset * dtype.size, bf16: dtype == .bf16,
                    rows: slots.count, positions: slotPositions + slots.lowerBound, scratch: rotateScratch)
            }
        }
    }

    // MARK: - Export and import (retrieval store)

    /// Copies the pre-RoPE keys and the values of slots `slots` for `layer` and KV head `head` into `keys` and
    /// `values` as bf16 ([n, Hd] each).
    public func exportBF16(
        layer: Int, head: Int, slots: Range<Int>, keys outKeys: UnsafeMutablePointer<UInt16>,
        values outValues: UnsafeMutablePointer<UInt16>
    ) {
        precondition(keepsPreRoPEKeys && slots.upperBound <= count, "export: bad slots")
        let offset = (head * capacity + slots.lowerBound) * headDim
        let n = slots.count * headDim
        Conversions.toBF16(preRoPEKeys[layer].floats + offset, count: n, into: outKeys)
        if dtype == .bf16 {
            outValues.update(from: values[layer].raw.assumingMemoryBound(to: UInt16.self) + offset, count: n)
        } else {
            Conversions.toBF16(values[layer].floats + offset, count: n, into: outValues)
        }
    }

    /// Inserts `n` tokens from bf16 pre-RoPE keys and values (per layer and KV head, [n, Hd] each, read through
    /// `source(layer, head)`) at slot `at`: later slots move up, and slots at ..< count get consecutive positions from
    /// the position `at` had (or from `at`), keys re-rotated with `rope`. Imported tokens are not computed tokens.
    public func insertImported(
        count n: Int, at slot: Int, rope: RotaryEmbedding,
        source: (_ layer: Int, _ head: Int) -> (keys: UnsafePointer<UInt16>, values: UnsafePointer<UInt16>)
    ) {
        precondition(keepsPreRoPEKeys && count + n <= capacity, "import: no room")
        precondition(slot >= 0 && slot <= count, "import: slot \(slot) outside 0...\(count)")
        guard n > 0 else { return }
        let start = slot < count ? Int(slotPositions[slot]) : (count > 0 ? Int(slotPositions[count - 1]) + 1 : 0)
        let tail = count - slot
        let size = dtype.size
        for l in 0..<layerCount {
            for j in 0..<kvHeads {
                let head = j * capacity
                let raw = preRoPEKeys[l].floats
                let v = values[l].raw
                if tail > 0 {
                    (raw + (head + slot + n) * headDim).update(from: raw + (head + slot) * headDim, count: tail * headDim)
                    (v + (head + slot + n) * headDim * size).copyMemory(
                        from: v + (head + slot) * headDim * size, byteCount: tail * headDim * size)
                }
                let (ks, vs) = source(l, j)
                let offset = (head + slot) * headDim
                Conversions.widen(UnsafeRawPointer(ks), dtype: .bf16, count: n * headDim, into: raw + offset)
                if dtype == .bf16 {
                    (v.assumingMemoryBound(to: UInt16.self) + offset).update(from: vs, count: n * headDim)
                } else {
                    Conversions.widen(UnsafeRawPointer(vs), dtype: .bf16, count: n * headDim, into: values[l].floats + offset)
                }
            }
        }
        count += n
        reposition(slot..<count, startingAt: start, rope: rope)
    }

    /// Mean pre-RoPE key of slots `slots` per layer, heads side by side: writes L × (Hkv·Hd) floats to `out`.
    public func meanPreRoPEKeys(_ slots: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(keepsPreRoPEKeys && slots.upperBound <= count, "meanPreRoPEKeys: bad slots")
        for l in 0..<layerCount {
            for j in 0..<kvHeads {
                RowOps.mean(
                    preRoPEKeys[l].floats + (j * capacity + slots.lowerBound) * headDim, stride: headDim,
                    rows: slots.count, width: headDim, into: out + (l * kvHeads + j) * headDim)
            }
        }
    }

    // MARK: - Fused decode binding

    /// Per-layer pointers the fused decode step writes through.
    var fusedBindings: [(keys: Tensor, values: Tensor, preRoPEKeys: Tensor?)] {
        (0..<layerCount).map { (keys[$0], values[$0], keepsPreRoPEKeys ? preRoPEKeys[$0] : nil) }
    }
}
