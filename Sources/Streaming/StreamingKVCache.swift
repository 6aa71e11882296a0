// The live session's KV cache as blocks over one pre-allocated slot arena (streaming brief M4–M6, after
// StreamingVLM's sink + text window + vision window with contiguous RoPE):
//
//   SINK        system prompt + standing instruction + session header          pinned: never evicted
//   PREV_TEXT   aged answers, questions and commentary                          first 512 + last 512 tokens kept
//   CHUNK(t)    one sampled frame: "Frame from mm:ss:" + its image tokens        evicted after the vision window
//   QA(t)       a question and its answer, or a commentary line                 ages into PREV_TEXT with the window
//   VIEW        retrieved blocks, spliced in for one answer                      dropped after the answer
//
// Blocks lie in slot order; a slot's RoPE position is its index (0 … L−1, contiguous) whenever positions are
// refreshed. Eviction happens only at chunk boundaries, in the brief's order: chunks older than the window leave
// (their KV goes to the retrieval store), QA blocks older than the window join PREV_TEXT where they lie (no copy:
// once the chunks before them are gone they are adjacent to it), PREV_TEXT is trimmed to its first and last 512
// tokens, and if the total would still pass the position cap the window shrinks (to a floor) before PREV_TEXT's tail
// does. Survivors keep their K/V as computed; their keys are re-rotated from the pre-RoPE copies at their new
// positions (`KVCache.reposition`), so no token is ever prefilled twice (`computedTokens` == appended tokens).
//
// Invariants (checked by `validate()`, and after every change in debug builds): blocks tile slots 0 ..< count with
// no gap or overlap; the sink is first; PREV_TEXT, when present, second; positions are 0 ..< count; count < cap.

import Kernels
import SmolVLM

/// What a block holds.
public enum BlockKind: String, Sendable, CaseIterable {
    case sink
    case previousText = "prev_text"
    case chunk
    case qa
    case view
}

/// A run of slots with one role.
public struct CacheBlock: Sendable, Equatable {
    public var kind: BlockKind
    /// First slot.
    public var start: Int
    /// Tokens.
    public var count: Int
    /// Media time: a chunk's frame time, a QA's question time (0 for the sink and PREV_TEXT).
    public var time: Double
    /// One past the last slot.
    public var end: Int { start + count }
}

/// Budgets of the cache (brief M4, M5).
public struct CacheBudget: Sendable, Equatable {
    /// L_max: the most positions the cache ever holds (sink + text + window + question + answer + view).
    public var maxPositions: Int
    /// V_window: seconds of frames kept in the window.
    public var visionWindowSeconds: Double
    /// The window shrinks to no less than this when the cap is reached.
    public var minimumWindowSeconds: Double
    /// PREV_TEXT keeps its first `textSink` and last `textWindow` tokens.
    public var textSink: Int
    public var textWindow: Int

    public init(
        maxPositions: Int = 4096, visionWindowSeconds: Double = 16, minimumWindowSeconds: Double = 4,
        textSink: Int = 512, textWindow: Int = 512
    ) {
        self.maxPositions = maxPositions
        self.visionWindowSeconds = visionWindowSeconds
        self.minimumWindowSeconds = minimumWindowSeconds
        self.textSink = textSink
        self.textWindow = textWindow
    }
}

/// Errors of the block cache that reach a caller (a question that cannot fit).
public struct CacheCapacityError: Error, CustomStringConvertible, Sendable {
    public var needed: Int
    public var available: Int
    public var description: String {
        "needs \(needed) positions but at most \(available) are free under the cap; raise --max-positions or shorten it"
    }
}

/// The streaming block cache.
public final class StreamingKVCache: DecoderCache {
    public let storage: KVCache
    public let budget: CacheBudget
    public let rope: RotaryEmbedding
    public let store: RetrievalStore
    /// Blocks in slot order.
    public private(set) var blocks: [CacheBlock] = []
    /// Tokens ever appended through the model (the prefill counter's partner: C14).
    public private(set) var appendedTokens = 0
    /// Blocks evicted so far, and tokens.
    public private(set) var evictedBlocks = 0
    public private(set) var evictedTokens = 0
    /// Tokens trimmed out of PREV_TEXT so far.
    public private(set) var trimmedTextTokens = 0
    /// Times the window had to shrink below V_window to respect the cap.
    public private(set) var windowShrinks = 0
    /// Tokens imported for temporary retrieval views (copied from the store, not computed).
    public private(set) var viewTokens = 0
    /// Tokens computed by retrieval probes and discarded (a question's queries, before its view is spliced).
    public private(set) var probeTokens = 0

    private var openBlock: (kind: BlockKind, start: Int, time: Double)?

    /// A cache of `budget.maxPositions` slots plus room for a view, with a retrieval store.
    public init(decoder: LlamaDecoder, budget: CacheBudget, store: RetrievalStore) {
        precondition(budget.maxPositions <= decoder.rope.maxPositions, "cache cap beyond the RoPE table")
        storage = decoder.makeCache(capacity: budget.maxPositions, keepsPreRoPEKeys: true)
        self.budget = budget
        rope = decoder.rope
        self.store = store
        blocks.reserveCapacity(256)
    }

    // MARK: - DecoderCache

    /// Slots equal positions: the next token takes position `count`.
    public var nextPosition: Int { storage.count }

    // MARK: - Reading

    /// Tokens in the cache.
    public var count: Int { storage.count }

    /// Tokens per block kind.
    public func tokens(of kind: BlockKind) -> Int {
        var n = 0
        for i in 0..<blocks.count where blocks[i].kind == kind { n += blocks[i].count }
        return n
    }

    /// The index of the first block of `kind` (plain loops here and below: the per-chunk path must not allocate,
    /// and unspecialised generic helpers do in debug builds).
    private func firstBlock(_ kind: BlockKind) -> Int? {
        for i in 0..<blocks.count where blocks[i].kind == kind { return i }
        return nil
    }

    /// The chunk blocks, oldest first.
    public var chunks: [CacheBlock] { blocks.filter { $0.kind == .chunk } }

    /// Positions still free under the cap.
    public var free: Int { budget.maxPositions - storage.count }

    // MARK: - Appending

    /// Starts a block of `kind` at the end; tokens the model appends until `closeBlock()` belong to it.
    public func openBlock(_ kind: BlockKind, time: Double) {
        precondition(openBlock == nil, "a block is already open")
        openBlock = (kind, storage.count, time)
    }

    /// Ends the open block (an empty block is dropped).
    public func closeBlock() {
        guard let open = openBlock else { return }
        openBlock = nil
        let n = storage.count - open.start
        guard n > 0 else { return }
        if open.kind != .view { appendedTokens += n }
        blocks.append(CacheBlock(kind: open.kind, start: open.start, count: n, time: open.time))
        debugValidate()
    }

    /// Undoes the open block's tokens (a probe pass) and closes it.
    public func discardOpenBlock() {
        guard let open = openBlock else { return }
        openBlock = nil
        probeTokens += storage.count - open.start
        storage.truncate(to: open.start)
    }

    /// Whether a block is open.
    public var hasOpenBlock: Bool { openBlock != nil }

    // MARK: - Eviction (at chunk boundaries)

    /// Makes room for `incoming` new tokens at media time `now`: evicts per the brief's order and refreshes positions.
    /// Throws when even the floor of the window and an empty PREV_TEXT tail leave no room.
    public func makeRoom(for incoming: Int, now: Double) throws(CacheCapacityError) {
        precondition(openBlock == nil, "evicting with a block open")
        var firstChanged = Int.max
        // 1. Chunks older than the window leave; their KV is kept in the retrieval store.
        firstChanged = min(firstChanged, evictChunks(olderThan: now - budget.visionWindowSeconds))
        // 2. Old QA blocks join PREV_TEXT.
        absorbAgedText(olderThan: now - budget.visionWindowSeconds)
        // 3. PREV_TEXT keeps its first and last tokens.
        firstChanged = min(firstChanged, trimPreviousText(window: budget.textWindow))
        // 4. Still over the cap: shrink the window towards its floor, then PREV_TEXT's tail.
        if storage.count + incoming > budget.maxPositions {
            var window = budget.visionWindowSeconds
            while storage.count + incoming > budget.maxPositions && window > budget.minimumWindowSeconds {
                window = max(budget.minimumWindowSeconds, window - 1)
                let changed = evictChunks(olderThan: now - window)
                if changed != Int.max {
                    windowShrinks += 1
                    firstChanged = min(firstChanged, changed)
                }
                absorbAgedText(olderThan: now - window)
            }
            if storage.count + incoming > budget.maxPositions {
                let over = storage.count + incoming - budget.maxPositions
                firstChanged = min(firstChanged, trimPreviousText(window: max(0, prevTextTail - over)))
            }
        }
        if firstChanged < storage.count {
            storage.reposition(firstChanged..<storage.count, startingAt: firstChanged, rope: rope)
        }
        debugValidate()
        if storage.count + incoming > budget.maxPositions {
            throw CacheCapacityError(needed: incoming, available: max(0, budget.maxPositions - storage.count))
        }
    }

    /// Tokens of PREV_TEXT beyond its sink part.
    private var prevTextTail: Int {
        guard let p = firstBlock(.previousText) else { return 0 }
        return max(0, blocks[p].count - budget.textSink)
    }

    /// Removes chunk blocks taken before `cutoff`; returns the first slot that moved (Int.max when none).
    private func evictChunks(olderThan cutoff: Double) -> Int {
        var first = Int.max
        var i = blocks.count - 1
        // From the back, so each removal leaves earlier block starts valid.
        while i >= 0 {
            let b = blocks[i]
            if b.kind == .chunk && b.time < cutoff {
                store.add(from: storage, slots: b.start..<b.end, time: b.time)
                remove(at: i)
                evictedBlocks += 1
                evictedTokens += b.count
                first = min(first, b.start)
            }
            i -= 1
        }
        return first
    }

    /// QA blocks older than `cutoff` that now follow the sink or PREV_TEXT directly become part of PREV_TEXT.
    private func absorbAgedText(olderThan cutoff: Double) {
        var index = 1
        while index < blocks.count {
            let b = blocks[index]
            guard b.kind == .qa || b.kind == .previousText, b.kind == .previousText || b.time < cutoff else { break }
            if b.kind == .qa {
                if blocks[index - 1].kind == .previousText {
                    blocks[index - 1].count += b.count
                    blocks.remove(at: index)
                    continue
                }
                blocks[index].kind = .previousText
                blocks[index].time = 0
            }
            index += 1
        }
    }

    /// Cuts PREV_TEXT to its first `textSink` and last `window` tokens; returns the first moved slot.
    private func trimPreviousText(window: Int) -> Int {
        guard let i = firstBlock(.previousText) else { return Int.max }
        let p = blocks[i]
        let keep = budget.textSink + window
        guard p.count > keep else { return Int.max }
        let cut = p.start + budget.textSink..<p.end - window
        removeSlots(cut, inBlock: i)
        trimmedTextTokens += cut.count
        return cut.lowerBound
    }

    /// Removes block `index` and its slots.
    private func remove(at index: Int) {
        let b = blocks[index]
        storage.removeSlots(b.start..<b.end)
        blocks.remove(at: index)
        for j in index..<blocks.count { blocks[j].start -= b.count }
    }

    /// Removes `range` from inside block `index`.
    private func removeSlots(_ range: Range<Int>, inBlock index: Int) {
        storage.removeSlots(range)
        blocks[index].count -= range.count
        for j in (index + 1)..<blocks.count { blocks[j].start -= range.count }
    }

    // MARK: - Retrieval view (one answer)

    /// Splices the stored blocks `indices` (oldest first) between PREV_TEXT and the window, re-positioning what
    /// follows; returns their media times. Fits as many as the cap allows after `reserve` positions.
    public func spliceView(_ indices: [Int], reserve: Int) -> [Double] {
        precondition(openBlock == nil && !blocks.contains { $0.kind == .view }, "a view is already spliced")
        var at = 0
        var insertIndex = 0
        for i in 0..<blocks.count where blocks[i].kind == .sink || blocks[i].kind == .previousText {
            at = blocks[i].end
            insertIndex = i + 1
        }
        var times: [Double] = []
        var newBlocks: [CacheBlock] = []
        for index in indices {
            let stored = store.blocks[index]
            guard storage.count + stored.tokenCount + reserve <= budget.maxPositions else { break }
            storage.insertImported(count: stored.tokenCount, at: at, rope: rope, source: store.source(of: index))
            newBlocks.append(CacheBlock(kind: .view, start: at, count: stored.tokenCount, time: stored.time))
            for j in insertIndex..<blocks.count { blocks[j].start += stored.tokenCount }
            at += stored.tokenCount
            times.append(stored.time)
            viewTokens += stored.tokenCount
        }
        blocks.insert(contentsOf: newBlocks, at: insertIndex)
        debugValidate()
        return times
    }

    /// Removes a spliced view and re-positions what followed it.
    public func dropView() {
        guard let first = firstBlock(.view) else { return }
        let start = blocks[first].start
        while let i = firstBlock(.view) { remove(at: i) }
        if start < storage.count { storage.reposition(start..<storage.count, startingAt: start, rope: rope) }
        debugValidate()
    }

    // MARK: - Invariants

    /// Problems with the block layout (empty when it is sound): C5's checks.
    public func validate() -> [String] {
        var problems: [String] = []
        var next = 0
        var sinks = 0
        for i in 0..<blocks.count {
            let b = blocks[i]
            if b.start != next { problems.append("block \(i) (\(b.kind)) starts at \(b.start), expected \(next)") }
            if b.count <= 0 { problems.append("block \(i) (\(b.kind)) is empty") }
            if b.kind == .sink { sinks += 1 }
            next = b.end
        }
        let covered = openBlock?.start ?? storage.count
        if next != covered { problems.append("blocks end at \(next) but the cache holds \(covered)") }
        if !blocks.isEmpty && blocks[0].kind != .sink { problems.append("the first block is \(blocks[0].kind), not the sink") }
        if sinks > 1 { problems.append("more than one sink") }
        if let p = firstBlock(.previousText), p != 1 {
            problems.append("PREV_TEXT is block \(p), not the one after the sink")
        }
        if storage.count > budget.maxPositions { problems.append("\(storage.count) tokens over the cap \(budget.maxPositions)") }
        for s in 0..<storage.count where storage.position(ofSlot: s) != s {
            problems.append("slot \(s) has position \(storage.position(ofSlot: s))")
            break
        }
        return problems
    }

    private func debugValidate() {
        assert(validate().isEmpty, "cache layout: \(validate().joined(separator: "; "))")
    }
}
