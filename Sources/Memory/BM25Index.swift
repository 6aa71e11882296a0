// BM25 search over text memory entries (clip captions and summaries), exact and in memory.
//
// Why not SQLite FTS5: the collection is small (120 clip captions and 12 segment summaries per hour of stream;
// ≤ 3,400 L1 entries at 28 h, ../shared/briefs/memory.md §6.3), so an exact scan of posting lists costs well under
// a millisecond; every query needs statistics restricted to what the caller may see (entries ending by the question
// time t, for streaming causality, and one level), which FTS5's bm25() cannot do (it scores against the whole
// table); the index is a value type that a memory snapshot copies for free (copy-on-write), where a database
// connection would need its own thread and locking; and it adds no system library to build, package or test.
//
// Scoring (Robertson/Spärck Jones BM25 with Lucene's non-negative IDF), over the entries that pass the filter:
//
//   score(d, q) = Σ_{t ∈ q, unique}  idf(t) · tf(t,d)·(k1 + 1) / (tf(t,d) + k1·(1 − b + b·|d|/avgdl))
//   idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
//
// with k1 = 1.2, b = 0.75; N, df and avgdl counted over the filtered entries only, so a causal query at time t sees
// exactly the statistics it would have seen live at t. Terms come from SearchTokenizer (folded, stemmed, function
// words removed). Ties in score go to the earlier-added entry, so results are deterministic.

import Foundation

/// An exact in-memory BM25 index of text memory entries; a value type (copy-on-write), appended to in time order.
public struct BM25Index: Sendable {
    /// Term-frequency saturation.
    public static let k1 = 1.2
    /// Length normalisation.
    public static let b = 0.75

    /// Which entries a search may return; every condition must hold.
    public struct Filter: Sendable, Hashable {
        /// Only these levels (nil: all levels).
        public var levels: Set<TextMemoryEntry.Level>?
        /// Only entries with end ≤ this media time (causality: nothing from after the question).
        public var endingBy: Double?
        /// Only entries with start ≥ this media time.
        public var startingFrom: Double?
        /// Never these entry ids (e.g. the most recent clips, which the prompt includes anyway).
        public var excludedIDs: Set<Int>

        /// A filter; the defaults let every entry through.
        public init(
            levels: Set<TextMemoryEntry.Level>? = nil, endingBy: Double? = nil, startingFrom: Double? = nil,
            excludedIDs: Set<Int> = []
        ) {
            self.levels = levels
            self.endingBy = endingBy
            self.startingFrom = startingFrom
            self.excludedIDs = excludedIDs
        }

        /// True when `entry` (with id `id`) passes.
        public func admits(_ entry: TextMemoryEntry, id: Int) -> Bool {
            if let levels, !levels.contains(entry.level) { return false }
            if let endingBy, entry.end > endingBy { return false }
            if let startingFrom, entry.start < startingFrom { return false }
            return !excludedIDs.contains(id)
        }
    }

    /// One search result.
    public struct Hit: Sendable, Hashable {
        /// The entry's id: its position in `entries`.
        public var id: Int
        /// The entry.
        public var entry: TextMemoryEntry
        /// Its BM25 score (> 0).
        public var score: Double

        /// Media time the entry starts at.
        public var start: Double { entry.start }
        /// Media time the entry ends at.
        public var end: Double { entry.end }
    }

    private struct Posting: Sendable {
        var document: Int32
        var frequency: Int32
    }

    /// The indexed entries; an entry's id is its position here.
    public private(set) var entries: [TextMemoryEntry] = []
    private var lengths: [Int32] = []
    private var postings: [String: [Posting]] = [:]

    /// An empty index.
    public init() {}

    /// An index of `entries` (ids 0, 1, ... in this order).
    public init(_ entries: some Sequence<TextMemoryEntry>) {
        for entry in entries { add(entry) }
    }

    /// The number of indexed entries.
    public var count: Int { entries.count }

    /// Indexes `entry` and returns its id.
    @discardableResult
    public mutating func add(_ entry: TextMemoryEntry) -> Int {
        let id = entries.count
        entries.append(entry)
        let terms = SearchTokenizer.terms(entry.text)
        lengths.append(Int32(terms.count))
        var frequencies: [String: Int32] = [:]
        for term in terms { frequencies[term, default: 0] += 1 }
        for (term, frequency) in frequencies {
            postings[term, default: []].append(Posting(document: Int32(id), frequency: frequency))
        }
        return id
    }

    /// The `limit` best entries for `query` among those `filter` admits, best first; entries sharing no term with
    /// the query are never returned.
    public func search(_ query: String, limit: Int = 3, filter: Filter = Filter()) -> [Hit] {
        let queryTerms = Array(Set(SearchTokenizer.terms(query))).sorted()
        guard limit > 0, !queryTerms.isEmpty, !entries.isEmpty else { return [] }

        var admitted = [Bool](repeating: false, count: entries.count)
        var documentCount = 0
        var totalLength = 0
        for (id, entry) in entries.enumerated() where filter.admits(entry, id: id) {
            admitted[id] = true
            documentCount += 1
            totalLength += Int(lengths[id])
        }
        guard documentCount > 0 else { return [] }
        let averageLength = max(Double(totalLength) / Double(documentCount), 1e-9)
        let n = Double(documentCount)

        var scores: [Int: Double] = [:]
        for term in queryTerms {
            guard let list = postings[term] else { continue }
            let df = Double(list.reduce(0) { $0 + (admitted[Int($1.document)] ? 1 : 0) })
            guard df > 0 else { continue }
            let idf = log(1 + (n - df + 0.5) / (df + 0.5))
            for posting in list where admitted[Int(posting.document)] {
                let tf = Double(posting.frequency)
                let norm = Self.k1 * (1 - Self.b + Self.b * Double(lengths[Int(posting.document)]) / averageLength)
                scores[Int(posting.document), default: 0] += idf * tf * (Self.k1 + 1) / (tf + norm)
            }
        }
        let ranked = scores.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        return ranked.prefix(limit).map { Hit(id: $0.key, entry: entries[$0.key], score: $0.value) }
    }
}
