// An immutable view of the feature bank at one moment: the RAM ring's frames (shared immutable records) and the
// segment files' indexes (immutable file handles), as a snapshot carries them. Reading never blocks the writer and
// never sees a frame the writer appended after the view was taken; a segment thinned later stays readable through
// the view's handle.
//
// Invariant used throughout: the RAM ring holds a suffix of the appended frames (the newest ones), and every file
// frame with an id at or above the ring's first id is also in the ring. So frames below the ring's first id are
// looked up in the files, the rest in the ring.

/// The index of one segment file: its handle and the frames it holds (ascending ids and times, their slots).
struct SegmentEntry: Sendable {
    var file: SegmentFile
    var ids: [Int] = []
    var times: [Double] = []
    var slots: [Int32] = []
    /// Slots used in the file, holes (damaged records) included.
    var slotCount = 0

    /// Bytes of the file.
    var byteCount: Int { SegmentFile.headerSize + slotCount * file.layout.recordSize }
}

/// A read-only, thread-safe view of the feature bank.
public struct FeatureBankView: Sendable {
    let layout: RecordLayout
    let ram: [BankFrame]
    let segments: [SegmentEntry]

    /// The frames' geometry.
    public var geometry: FeatureGeometry { layout.geometry }

    private var ramFirstID: Int { ram.first?.id ?? Int.max }

    /// Frames readable through this view (in RAM, in a file, or both).
    public var frameCount: Int {
        segments.reduce(ram.count) { $0 + lowerBound($1.ids, ramFirstID) }
    }

    /// The newest frame's id and time.
    public var newest: (id: Int, time: Double)? {
        if let frame = ram.last { return (frame.id, frame.time) }
        guard let segment = segments.last(where: { !$0.ids.isEmpty }) else { return nil }
        return (segment.ids.last!, segment.times.last!)
    }

    /// True when frame `id` can be read.
    public func contains(_ id: Int) -> Bool { location(of: id) != nil }

    /// The media time of frame `id`, if it can be read.
    public func time(ofFrame id: Int) -> Double? {
        switch location(of: id) {
        case .ram(let index): return ram[index].time
        case .file(let segment, let index): return segments[segment].times[index]
        case nil: return nil
        }
    }

    /// Frame `id` (nil when it was never stored, was dropped from RAM without a file, or was thinned). Throws when
    /// its record is damaged or the file cannot be read.
    public func frame(id: Int) throws(MemoryError) -> BankFrame? {
        switch location(of: id) {
        case .ram(let index): return ram[index]
        case .file(let s, let index):
            let segment = segments[s]
            guard let frame = try segment.file.readFrame(slot: Int(segment.slots[index]), expectedID: id) else {
                throw .corruptFeatureBank(path: segment.file.path, detail: "the record of frame \(id) fails its checks")
            }
            return frame
        case nil: return nil
        }
    }

    /// The readable frame whose time is nearest `time` among those at or before `limit` (ties: the earlier).
    public func frame(nearest time: Double, notAfter limit: Double) -> (id: Int, time: Double)? {
        let before = lastFrame(atOrBefore: min(time, limit))
        let after = time < limit ? firstFrame(after: time).flatMap { $0.time <= limit ? $0 : nil } : nil
        switch (before, after) {
        case (let b?, let a?): return (a.time - time) < (time - b.time) ? a : b
        case (let b?, nil): return b
        case (nil, let a?): return a
        case (nil, nil): return nil
        }
    }

    /// The newest `count` readable frames at or before `limit`, oldest first.
    public func newestFrames(count: Int, notAfter limit: Double) -> [(id: Int, time: Double)] {
        var result: [(id: Int, time: Double)] = []
        var cursor = lastFrame(atOrBefore: limit)
        while let frame = cursor, result.count < count {
            result.append(frame)
            cursor = lastFrame(before: frame.time)
        }
        return result.reversed()
    }

    /// Calls `body` with the id and time of every readable frame whose id is in `ids`, ascending.
    public func forEachFrame<E: Error>(in ids: ClosedRange<Int>, _ body: (Int, Double) throws(E) -> Void) throws(E) {
        let split = ramFirstID
        if ids.lowerBound < split {
            let upper = min(ids.upperBound, split - 1)
            var s = segmentIndex(containingOrAfter: ids.lowerBound)
            walk: while s < segments.count {
                let segment = segments[s]
                var i = lowerBound(segment.ids, ids.lowerBound)
                while i < segment.ids.count {
                    if segment.ids[i] > upper { break walk }
                    try body(segment.ids[i], segment.times[i])
                    i += 1
                }
                s += 1
            }
        }
        if ids.upperBound >= split {
            var i = ramLowerBound(max(ids.lowerBound, split))
            while i < ram.count, ram[i].id <= ids.upperBound {
                try body(ram[i].id, ram[i].time)
                i += 1
            }
        }
    }

    /// ‖k_f − centroid‖² for frame `id` (centroid: Kt·H floats), from its stored fp16 key; nil when the frame is
    /// not readable or its key record fails its checks. `scratch` is reused between calls.
    func keyDistance(id: Int, to centroid: UnsafeBufferPointer<Float>, scratch: inout [UInt8]) throws(MemoryError)
        -> Float?
    {
        switch location(of: id) {
        case .ram(let index):
            return ram[index].keyDistance(to: centroid)
        case .file(let s, let index):
            let segment = segments[s]
            return try segment.file.keyDistance(
                slot: Int(segment.slots[index]), expectedID: id, to: centroid, scratch: &scratch)
        case nil:
            return nil
        }
    }

    // MARK: - Lookup

    enum Location {
        case ram(Int)
        case file(segment: Int, index: Int)
    }

    func location(of id: Int) -> Location? {
        if id >= ramFirstID {
            let i = ramLowerBound(id)
            return i < ram.count && ram[i].id == id ? .ram(i) : nil
        }
        let s = segmentIndex(containingOrAfter: id)
        guard s < segments.count else { return nil }
        let i = lowerBound(segments[s].ids, id)
        return i < segments[s].ids.count && segments[s].ids[i] == id ? .file(segment: s, index: i) : nil
    }

    /// The first segment whose last id is ≥ `id`.
    private func segmentIndex(containingOrAfter id: Int) -> Int {
        var low = 0
        var high = segments.count
        while low < high {
            let mid = (low + high) / 2
            if (segments[mid].ids.last ?? Int.min) < id { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private func ramLowerBound(_ id: Int) -> Int {
        var low = 0
        var high = ram.count
        while low < high {
            let mid = (low + high) / 2
            if ram[mid].id < id { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// The newest readable frame with time ≤ `t`.
    func lastFrame(atOrBefore t: Double) -> (id: Int, time: Double)? { lastFrame(where: { $0 <= t }) }

    /// The newest readable frame with time < `t`.
    func lastFrame(before t: Double) -> (id: Int, time: Double)? { lastFrame(where: { $0 < t }) }

    /// The newest frame whose time satisfies `isEarly` (a predicate true for a prefix of times).
    private func lastFrame(where isEarly: (Double) -> Bool) -> (id: Int, time: Double)? {
        // RAM frames are newer than every file frame below the ring: look there first.
        let r = partition(ram.count) { isEarly(ram[$0].time) }
        if r > 0 { return (ram[r - 1].id, ram[r - 1].time) }
        let s = partition(segments.count) { segments[$0].times.first.map(isEarly) ?? true } - 1
        guard s >= 0 else { return nil }
        for index in stride(from: s, through: 0, by: -1) {
            let segment = segments[index]
            let i = partition(segment.times.count) { isEarly(segment.times[$0]) }
            if i > 0 { return (segment.ids[i - 1], segment.times[i - 1]) }
        }
        return nil
    }

    /// The oldest readable frame with time > `t`.
    func firstFrame(after t: Double) -> (id: Int, time: Double)? {
        let s = partition(segments.count) { (segments[$0].times.last ?? -.infinity) <= t }
        if s < segments.count {
            let segment = segments[s]
            let i = partition(segment.times.count) { segment.times[$0] <= t }
            if i < segment.ids.count, segment.ids[i] < ramFirstID { return (segment.ids[i], segment.times[i]) }
        }
        let r = partition(ram.count) { ram[$0].time <= t }
        return r < ram.count ? (ram[r].id, ram[r].time) : nil
    }

    /// The number of leading indices in 0..<count for which `isLeading` holds (a prefix predicate).
    private func partition(_ count: Int, _ isLeading: (Int) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            if isLeading(mid) { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

/// The first index of sorted `values` holding a value ≥ `value`.
func lowerBound(_ values: [Int], _ value: Int) -> Int {
    var low = 0
    var high = values.count
    while low < high {
        let mid = (low + high) / 2
        if values[mid] < value { low = mid + 1 } else { high = mid }
    }
    return low
}
