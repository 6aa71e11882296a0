// Byte-level BPE: turns one pre-tokenized piece (raw bytes) into token ids by merge rank, with a word cache.
//
// Port of tokenizers 0.23.3 `BPE` (tokenizers/src/models/bpe/model.rs `merge_word`, word.rs `Word::merge_all`).
// A piece starts as one symbol per byte (the byte's ByteLevel character looked up in the vocabulary), then:
//   repeat: pop the queued pair with the lowest (rank, left position); skip it if its left symbol was merged away,
//           has no right neighbour, or the current pair there no longer produces the queued token; otherwise merge
//           and queue the pairs the new symbol forms with its neighbours.
// This is exactly tokenizers' priority-queue loop (including its staleness test, which compares only the produced
// id), so ties and odd merge lists behave identically. Bytes whose character is not in the vocabulary become the
// unknown token (fused when `fuse_unk`), or are dropped when there is none, as in tokenizers.
//
// Config keys read (tokenizer.json `model`): vocab, merges, unk_token, fuse_unk, ignore_merges.

import Synchronization

/// The merges as an open-addressing hash table: (left id, right id) -> (rank, merged id).
struct MergeTable: Sendable {
    private var keys: [UInt64]
    private var values: [UInt64]
    private let mask: Int
    private static let empty = UInt64.max

    /// An empty table sized for `count` merges.
    init(capacity count: Int) {
        var size = 16
        while size < count * 2 { size *= 2 }
        keys = [UInt64](repeating: Self.empty, count: size)
        values = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always) private func slot(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// Sets the merge of `left` and `right`; a later merge of the same pair replaces the earlier one (as tokenizers'
    /// HashMap does).
    mutating func insert(left: Int32, right: Int32, rank: UInt32, merged: Int32) {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        var index = slot(key)
        while keys[index] != Self.empty && keys[index] != key { index = (index + 1) & mask }
        keys[index] = key
        values[index] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged))
    }

    /// The rank and merged id of the pair, packed as rank << 32 | merged id, or nil when the pair never merges.
    @inline(__always) func lookup(_ left: Int32, _ right: Int32) -> UInt64? {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        var index = slot(key)
        while true {
            let found = keys[index]
            if found == key { return values[index] }
            if found == Self.empty { return nil }
            index = (index + 1) & mask
        }
    }
}

/// The BPE model: byte tokens, merges and the word cache.
final class BytePairEncoder: Sendable {
    /// Id of each byte's ByteLevel character in the vocabulary, or -1 when absent.
    let byteTokens: [Int32]
    let merges: MergeTable
    /// The unknown token's id (`unk_token`), if any.
    let unknownID: Int32?
    /// Whether consecutive unknown bytes become one unknown token (`fuse_unk`).
    let fusesUnknown: Bool
    /// Ids of whole vocabulary entries by their raw bytes, when `ignore_merges` lets a piece skip the merges.
    let wholeWords: [[UInt8]: Int32]?
    private let cache = Mutex(WordCache())

    /// Pieces at least this long (in bytes) are merged every time rather than cached.
    static let cachedLengthLimit = 256
    /// The cache is emptied when it holds this many words (tokenizers' DEFAULT_CACHE_CAPACITY).
    static let cacheCapacity = 10_000

    init(
        byteTokens: [Int32], merges: MergeTable, unknownID: Int32?, fusesUnknown: Bool, wholeWords: [[UInt8]: Int32]?
    ) {
        self.byteTokens = byteTokens
        self.merges = merges
        self.unknownID = unknownID
        self.fusesUnknown = fusesUnknown
        self.wholeWords = wholeWords
    }

    /// Reusable per-call buffers for merging.
    struct Scratch {
        var symbols: [Symbol] = []
        var queue = MergeQueue()
    }

    /// One symbol of a word being merged: a token id in a doubly linked list over the original byte positions.
    struct Symbol {
        var id: Int32
        var previous: Int32
        var next: Int32
        /// Bytes covered; 0 once merged into its left neighbour.
        var length: Int32
    }

    /// Appends the ids of one piece to `ids`.
    func encode(_ piece: UnsafeBufferPointer<UInt8>, into ids: inout [Int], scratch: inout Scratch) {
        if piece.isEmpty { return }
        if let wholeWords, let id = wholeWords[Array(piece)] {
            ids.append(Int(id))
            return
        }
        let cacheable = piece.count < Self.cachedLengthLimit
        var hasher = Hasher()
        if cacheable {
            hasher.combine(bytes: UnsafeRawBufferPointer(piece))
            let key = hasher.finalize()
            let hit = cache.withLock { cache -> Bool in
                guard let entry = cache.words[key], entry.bytes.elementsEqual(piece) else { return false }
                ids.append(contentsOf: entry.ids)
                return true
            }
            if hit { return }
            let start = ids.count
            merge(piece, into: &ids, scratch: &scratch)
            let entry = WordCache.Entry(bytes: Array(piece), ids: Array(ids[start...]))
            cache.withLock { cache in
                if cache.words.count >= Self.cacheCapacity { cache.words.removeAll(keepingCapacity: true) }
                cache.words[key] = entry
            }
        } else {
            merge(piece, into: &ids, scratch: &scratch)
        }
    }

    /// Merges one piece by rank (tokenizers' `merge_word` + `Word::merge_all`) and appends the resulting ids.
    private func merge(_ piece: UnsafeBufferPointer<UInt8>, into ids: inout [Int], scratch: inout Scratch) {
        // Take the buffers out of `scratch` so they are uniquely referenced and keep their capacity.
        var symbols: [Symbol] = []
        swap(&symbols, &scratch.symbols)
        symbols.removeAll(keepingCapacity: true)
        var queue = MergeQueue()
        swap(&queue, &scratch.queue)
        queue.removeAll()
        // Initial symbols: one per byte; unknown bytes become (possibly fused) unknown tokens or are dropped.
        var pendingUnknown: Int32 = 0  // bytes of an unknown symbol not yet added
        func add(_ id: Int32, _ length: Int32) {
            let index = Int32(symbols.count)
            if index > 0 { symbols[Int(index) - 1].next = index }
            symbols.append(Symbol(id: id, previous: index - 1, next: -1, length: length))
        }
        for byte in piece {
            let id = byteTokens[Int(byte)]
            if id >= 0 {
                if let unknownID, pendingUnknown > 0 {
                    add(unknownID, pendingUnknown)
                    pendingUnknown = 0
                }
                add(id, 1)
            } else if let unknownID {
                if pendingUnknown > 0 && !fusesUnknown { add(unknownID, pendingUnknown) }
                pendingUnknown = fusesUnknown ? pendingUnknown + 1 : 1
            }
        }
        if let unknownID, pendingUnknown > 0 { add(unknownID, pendingUnknown) }

        for index in 0..<max(symbols.count - 1, 0) {
            if let merge = merges.lookup(symbols[index].id, symbols[index + 1].id) {
                queue.push(rank: UInt32(merge >> 32), position: Int32(index), merged: Int32(truncatingIfNeeded: merge))
            }
        }
        while let top = queue.pop() {
            let position = Int(top.position)
            let left = symbols[position]
            if left.length == 0 || left.next == -1 { continue }
            let rightIndex = Int(left.next)
            let right = symbols[rightIndex]
            // Expired entry: the pair at this position no longer produces the queued token.
            guard let current = merges.lookup(left.id, right.id), Int32(truncatingIfNeeded: current) == top.merged
            else { continue }
            symbols[position].id = top.merged
            symbols[position].length += right.length
            symbols[position].next = right.next
            symbols[rightIndex].length = 0
            if right.next >= 0 { symbols[Int(right.next)].previous = Int32(position) }
            let merged = symbols[position]
            if merged.previous >= 0, let pair = merges.lookup(symbols[Int(merged.previous)].id, merged.id) {
                queue.push(rank: UInt32(pair >> 32), position: merged.previous, merged: Int32(truncatingIfNeeded: pair))
            }
            if merged.next >= 0, let pair = merges.lookup(merged.id, symbols[Int(merged.next)].id) {
                queue.push(rank: UInt32(pair >> 32), position: Int32(position), merged: Int32(truncatingIfNeeded: pair))
            }
        }
        for symbol in symbols where symbol.length != 0 { ids.append(Int(symbol.id)) }
        swap(&symbols, &scratch.symbols)
        swap(&queue, &scratch.queue)
    }
}

/// Recently merged pieces: hash of the bytes -> (the bytes, to confirm the hit, and the ids).
struct WordCache: Sendable {
    struct Entry: Sendable {
        var bytes: [UInt8]
        var ids: [Int]
    }
    var words: [Int: Entry] = [:]
}

/// A binary min-heap of pending merges ordered by (rank, left position), like tokenizers' `Merge` ordering.
struct MergeQueue {
    struct Entry {
        /// rank << 32 | position: comparing keys compares (rank, position).
        var key: UInt64
        var merged: Int32
        var position: Int32 { Int32(truncatingIfNeeded: key & 0xFFFF_FFFF) }
    }
    private var heap: [Entry] = []

    mutating func removeAll() { heap.removeAll(keepingCapacity: true) }

    mutating func push(rank: UInt32, position: Int32, merged: Int32) {
        heap.append(Entry(key: UInt64(rank) << 32 | UInt64(UInt32(bitPattern: position)), merged: merged))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if heap[parent].key <= heap[child].key { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            if left >= heap.count { break }
            var smallest = left
            if left + 1 < heap.count && heap[left + 1].key < heap[left].key { smallest = left + 1 }
            if heap[parent].key <= heap[smallest].key { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}
