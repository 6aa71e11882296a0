// The frames a synopsis cluster holds, as sorted runs of consecutive frame ids, stored so that adding a frame or
// merging two clusters never copies a long list: full runs of ranges are sealed into shared immutable chunks of
// `MemberList.chunkCapacity` ranges; only the open tail (≤ 256 ranges, ≤ 4 KB) is copied when a snapshot shares it.
//
// A cluster of 36,000 frames of one scene is one range; a cluster whose scene recurs every few seconds has one range
// per visit. Merging concatenates chunk lists (O(chunks)); when chunks get sparse they are repacked, so the chunk
// count stays within about twice the range count / 256 (+8). Detail selection walks the ranges and, per range, the
// bank frames in it (FeatureBankView.forEachFrame(in:)), so its cost is O(members), never O(stream).

/// A set of frame ids kept as disjoint closed ranges; appending ids above every member and uniting disjoint lists
/// are cheap.
public struct MemberList: Sendable, Equatable, CustomStringConvertible {
    /// Ranges per sealed chunk.
    static let chunkCapacity = 256

    private final class Chunk: Sendable {
        let ranges: [ClosedRange<Int>]
        init(_ ranges: [ClosedRange<Int>]) { self.ranges = ranges }
    }

    private var sealed: [Chunk] = []
    private var tail: [ClosedRange<Int>] = []
    /// Number of frame ids.
    public private(set) var count = 0
    /// Number of ranges held (before coalescing across chunks).
    public private(set) var rangeCount = 0
    /// The largest id (nil when empty).
    public private(set) var last: Int?

    /// An empty list.
    public init() {}

    /// A list of the ids in `ranges` (any order; they must be disjoint).
    public init(ranges: [ClosedRange<Int>]) {
        for range in Self.normalized(ranges) { appendRange(range) }
    }

    /// True when the list holds no id.
    public var isEmpty: Bool { count == 0 }

    /// Adds `id`, which must exceed every member.
    public mutating func append(_ id: Int) {
        precondition(last.map { id > $0 } ?? true, "member \(id) does not follow \(last ?? -1)")
        if let end = tail.last?.upperBound, end + 1 == id {
            tail[tail.count - 1] = tail[tail.count - 1].lowerBound...id
        } else {
            appendRange(id...id)
            return
        }
        count += 1
        last = id
    }

    /// Adds every id of `other`, which shares none with this list.
    public mutating func formUnion(_ other: MemberList) {
        guard !other.isEmpty else { return }
        guard !isEmpty else {
            self = other
            return
        }
        if !tail.isEmpty { sealed.append(Chunk(tail)) }
        sealed += other.sealed
        tail = other.tail
        count += other.count
        rangeCount += other.rangeCount
        last = max(last!, other.last!)
        if sealed.count > 8 && sealed.count > 2 * (rangeCount / Self.chunkCapacity) + 8 { repack() }
    }

    /// The union of this list and `other` (disjoint).
    public func union(_ other: MemberList) -> MemberList {
        var result = self
        result.formUnion(other)
        return result
    }

    /// The ranges, sorted and coalesced (adjacent ranges joined).
    public var ranges: [ClosedRange<Int>] {
        var all: [ClosedRange<Int>] = []
        all.reserveCapacity(rangeCount)
        forEachRange { all.append($0) }
        return Self.normalized(all)
    }

    /// Calls `body` with every range, in storage order (sorted within a chunk; chunks of merged clusters follow
    /// each other unsorted).
    public func forEachRange<E: Error>(_ body: (ClosedRange<Int>) throws(E) -> Void) throws(E) {
        for chunk in sealed {
            for range in chunk.ranges { try body(range) }
        }
        for range in tail { try body(range) }
    }

    /// True when `id` is a member (O(ranges)).
    public func contains(_ id: Int) -> Bool {
        guard let last, id <= last else { return false }
        for chunk in sealed where Self.search(chunk.ranges, id) { return true }
        return Self.search(tail, id)
    }

    /// Bytes held (ranges at 16 bytes, plus chunk overhead), for memory accounting.
    public var byteCount: Int { rangeCount * 16 + sealed.count * 48 + 64 }

    public var description: String {
        ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
    }

    public static func == (a: MemberList, b: MemberList) -> Bool {
        a.count == b.count && a.ranges == b.ranges
    }

    private mutating func appendRange(_ range: ClosedRange<Int>) {
        if tail.count == Self.chunkCapacity {
            sealed.append(Chunk(tail))
            tail = []
        }
        tail.append(range)
        count += range.count
        rangeCount += 1
        last = max(last ?? range.upperBound, range.upperBound)
    }

    private mutating func repack() {
        let all = ranges
        sealed = []
        tail = []
        count = 0
        rangeCount = 0
        last = nil
        for range in all { appendRange(range) }
    }

    /// Binary search of sorted disjoint ranges.
    private static func search(_ ranges: [ClosedRange<Int>], _ id: Int) -> Bool {
        var low = 0
        var high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].upperBound < id { low = mid + 1 } else { high = mid }
        }
        return low < ranges.count && ranges[low].contains(id)
    }

    private static func normalized(_ ranges: [ClosedRange<Int>]) -> [ClosedRange<Int>] {
        let sorted = ranges.sorted { $0.lowerBound < $1.lowerBound }
        var result: [ClosedRange<Int>] = []
        result.reserveCapacity(sorted.count)
        for range in sorted {
            if let previous = result.last, previous.upperBound + 1 >= range.lowerBound {
                result[result.count - 1] = previous.lowerBound...max(previous.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        return result
    }
}
