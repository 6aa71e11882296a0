// The ReKV-style store of evicted frame blocks (streaming brief M8): when a chunk leaves the vision window its KV is
// not freed but kept here — pre-RoPE keys and values in bf16 — with one representative key per layer (the mean
// pre-RoPE key over the block's tokens, heads side by side). A question compares its per-layer mean query with
// those representatives and pulls the best-matching blocks back into a temporary view (StreamingKVCache.spliceView).
//
// Memory: a ring of fixed-size slots in one anonymous mapping, faulted in when the session starts, so the process's
// resident memory holds the whole cap from the beginning and stays flat however long the stream runs. When every
// slot is in use the store thins itself uniformly (the brief's rule): every second block of the oldest half is freed.
//
// Deviation from ReKV: blocks are chosen once for all layers (by the mean over layers of the per-layer cosine), so the
// spliced view has one consistent set of positions; ReKV picks per layer.
//
// Shape legend: L layers, Hkv KV heads, Hd head dim, N tokens of a block (≤ maxTokens).

import Foundation
import Kernels
import SmolVLM

/// One stored block.
public struct StoredBlock: Sendable, Equatable {
    /// Media time of the frame the block holds.
    public var time: Double
    /// Tokens in the block.
    public var tokenCount: Int
    /// Where its data lives.
    var slot: Int
}

/// A bounded store of evicted frame blocks.
public final class RetrievalStore {
    public let layerCount: Int
    public let kvHeads: Int
    public let headDim: Int
    /// Largest block (tokens).
    public let maxTokens: Int
    /// Slots (blocks) the store holds at most.
    public let slotCount: Int
    /// Bytes of one slot (keys and values of every layer and head).
    public let slotBytes: Int
    /// Blocks held, oldest first.
    public private(set) var blocks: [StoredBlock] = []
    /// Blocks freed by thinning so far.
    public private(set) var thinnedBlocks = 0
    /// Blocks ever added.
    public private(set) var addedBlocks = 0

    private let base: UnsafeMutableRawPointer?
    private let mappedBytes: Int
    /// [slotCount, L, Hkv·Hd] representative (mean pre-RoPE) keys.
    private let representatives: UnsafeMutablePointer<Float>
    private var freeSlots: [Int]
    private let scores: UnsafeMutablePointer<Float>
    private let queryGrouped: UnsafeMutablePointer<Float>

    /// A store of at most `byteCap` bytes of block data (0 = disabled) for a decoder of these sizes.
    public init(layerCount: Int, kvHeads: Int, headDim: Int, maxTokens: Int, byteCap: Int, maxBlocks: Int = 3600) {
        self.layerCount = layerCount
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.maxTokens = maxTokens
        slotBytes = 2 * layerCount * kvHeads * maxTokens * headDim * 2
        slotCount = slotBytes > 0 ? max(0, min(maxBlocks, byteCap / slotBytes)) : 0
        mappedBytes = slotCount * slotBytes
        if mappedBytes > 0 {
            // MAP_POPULATE: resident from the start, so memory use is flat over the session.
            let p = mmap(nil, mappedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0)
            base = p == MAP_FAILED ? nil : p
        } else {
            base = nil
        }
        let slots = base == nil ? 0 : slotCount
        representatives = .allocate(capacity: max(1, slots * layerCount * kvHeads * headDim))
        freeSlots = Array((0..<slots).reversed())
        freeSlots.reserveCapacity(slots)
        blocks.reserveCapacity(slots)
        scores = .allocate(capacity: max(1, slots))
        queryGrouped = .allocate(capacity: max(1, kvHeads * headDim))
    }

    deinit {
        if let base { munmap(base, mappedBytes) }
        representatives.deallocate()
        scores.deallocate()
        queryGrouped.deallocate()
    }

    /// Whether blocks can be stored at all.
    public var isEnabled: Bool { base != nil && slotCount > 0 }

    /// Bytes reserved for block data.
    public var reservedBytes: Int { base == nil ? 0 : mappedBytes }

    /// Bytes of the blocks held.
    public var usedBytes: Int { blocks.count * slotBytes }

    private func keys(slot: Int, layer: Int, head: Int) -> UnsafeMutablePointer<UInt16> {
        let perHead = maxTokens * headDim
        let offset = ((layer * kvHeads + head) * 2) * perHead
        return (base! + slot * slotBytes).assumingMemoryBound(to: UInt16.self) + offset
    }

    private func values(slot: Int, layer: Int, head: Int) -> UnsafeMutablePointer<UInt16> {
        keys(slot: slot, layer: layer, head: head) + maxTokens * headDim
    }

    /// Keeps slots `slots` of `cache` (one block taken at media time `time`). Blocks longer than `maxTokens` are
    /// not stored. Thins the store first when it is full.
    public func add(from cache: KVCache, slots: Range<Int>, time: Double) {
        guard isEnabled, slots.count > 0, slots.count <= maxTokens else { return }
        if freeSlots.isEmpty { thin() }
        guard let slot = freeSlots.popLast() else { return }
        for l in 0..<layerCount {
            for j in 0..<kvHeads {
                cache.exportBF16(
                    layer: l, head: j, slots: slots, keys: keys(slot: slot, layer: l, head: j),
                    values: values(slot: slot, layer: l, head: j))
            }
        }
        cache.meanPreRoPEKeys(slots, into: representatives + slot * layerCount * kvHeads * headDim)
        blocks.append(StoredBlock(time: time, tokenCount: slots.count, slot: slot))
        addedBlocks += 1
    }

    /// Frees every second block of the oldest half (in place: no allocation).
    private func thin() {
        let half = blocks.count / 2
        guard half > 0 else { return }
        var write = 0
        for i in 0..<blocks.count {
            if i < half && i % 2 == 1 {
                freeSlots.append(blocks[i].slot)
                thinnedBlocks += 1
            } else {
                blocks[write] = blocks[i]
                write += 1
            }
        }
        blocks.removeLast(blocks.count - write)
    }

    /// The `k` blocks (by index into `blocks`, oldest first) whose representative keys best match the per-layer mean
    /// queries `queryMeans` (L × H·Hd, pre-RoPE, `heads` query heads), among blocks taken at or before `latest`.
    /// A block's score is the mean over layers of cos(q, expand(k)), the GQA-expanded key.
    public func bestMatches(queryMeans: UnsafePointer<Float>, heads: Int, k: Int, latest: Double) -> [Int] {
        guard isEnabled, k > 0, !blocks.isEmpty else { return [] }
        let group = heads / kvHeads
        let width = kvHeads * headDim
        for i in 0..<slotCount { scores[i] = 0 }
        let cosines = UnsafeMutablePointer<Float>.allocate(capacity: slotCount)
        defer { cosines.deallocate() }
        for l in 0..<layerCount {
            // q·expand(k) = Σ_j (Σ_{h∈j} q_h)·k_j, and |expand(k)| = √group·|k|.
            let q = queryMeans + l * heads * headDim
            var qq: Float = 0
            for x in 0..<(heads * headDim) { qq += q[x] * q[x] }
            for j in 0..<kvHeads {
                for d in 0..<headDim {
                    var sum: Float = 0
                    for g in 0..<group { sum += q[(j * group + g) * headDim + d] }
                    queryGrouped[j * headDim + d] = sum
                }
            }
            var gg: Float = 0
            for x in 0..<width { gg += queryGrouped[x] * queryGrouped[x] }
            let factor = qq > 0 ? gg.squareRoot() / (qq.squareRoot() * Float(group).squareRoot()) : 0
            RowOps.cosines(
                representatives + l * width, stride: layerCount * width, rows: slotCount, to: queryGrouped,
                width: width, into: cosines)
            for slot in 0..<slotCount { scores[slot] += cosines[slot] * factor }
        }
        var candidates: [(score: Float, index: Int)] = []
        candidates.reserveCapacity(blocks.count)
        for (i, block) in blocks.enumerated() where block.time <= latest {
            candidates.append((scores[block.slot] / Float(layerCount), i))
        }
        candidates.sort { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
        return candidates.prefix(k).map(\.index).sorted()
    }

    /// The data of block `index` for `KVCache.insertImported`.
    public func source(of index: Int) -> (_ layer: Int, _ head: Int) -> (keys: UnsafePointer<UInt16>, values: UnsafePointer<UInt16>) {
        let slot = blocks[index].slot
        return { [unowned self] l, j in
            (UnsafePointer(self.keys(slot: slot, layer: l, head: j)), UnsafePointer(self.values(slot: slot, layer: l, head: j)))
        }
    }

    /// Forgets every block (storage is kept).
    public func removeAll() {
        for b in blocks { freeSlots.append(b.slot) }
        blocks.removeAll(keepingCapacity: true)
    }
}
