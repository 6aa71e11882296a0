// The feature bank (../shared/briefs/memory.md §6.2): every frame's E_f and k_f in fp16 and g_f in fp32, with its
// id and media time. The newest `ramSeconds` worth of frames stay in a RAM ring; with a folder, every frame is also
// written through to append-only segment files (FeatureBankFile.swift) so frames that leave the ring stay readable
// (pread) and a restart resumes the bank; without a folder, frames that leave the ring are gone.
//
//   append  ──► RAM ring (newest ramFrameCapacity frames) ─► evicted (RAM only: dropped)
//          └──► segment files frames-00000000.vfb, … (write-through; fsync every `syncInterval` frames)
//
// Hard byte cap on the files: before a record would exceed it, the oldest half of the file frames is thinned,
// keeping every other frame (positions 0, 2, 4, … of that half), one segment at a time: each thinned segment is
// rewritten to a temporary file, flushed and renamed over the old one, so a crash leaves the old or the new file,
// never a mix; each is logged to thinning.jsonl (which frames went). Repeated passes thin old history ever more
// sparsely (1/2, 1/4, …) while the recent half stays complete. A `bank.lock` (flock) keeps a second process out.
//
// Thread-safety: one writer (the owner, e.g. FeatureMemory under its lock); any number of readers through
// `view`s, which are immutable values and never block the writer.

import Foundation
import Glibc
import VigilCore

/// The frame store of the feature memory: a RAM ring and, optionally, durable capped segment files.
public final class FeatureBank {
    /// Where and how much the bank keeps.
    public struct Configuration: Sendable, Hashable {
        /// The frames' token grid.
        public var geometry: FeatureGeometry
        /// Media seconds of frames the RAM ring holds (default 3,600: one hour).
        public var ramSeconds: Double
        /// Sampled frames per media second (default 1), which turns `ramSeconds` into a frame count.
        public var frameRate: Double
        /// The folder of the segment files (created when missing; resumed when it holds a bank); nil keeps frames
        /// in RAM only.
        public var directory: String?
        /// Hard cap on the bytes of all segment files (nil: no cap). At least four full segments.
        public var fileByteCap: Int?
        /// Records per segment file (default 256: ≈ 24 MB for SmolVLM2-256M).
        public var segmentFrameCount: Int
        /// Flush (fdatasync) the files after every `syncInterval`-th frame (default 1: every frame); 0 flushes only
        /// on `flush()`/`close()`. A process crash loses nothing written either way; this bounds what a power cut
        /// can take.
        public var syncInterval: Int

        /// A configuration; the defaults keep an hour in RAM and nothing on disk.
        public init(
            geometry: FeatureGeometry, ramSeconds: Double = 3600, frameRate: Double = 1, directory: String? = nil,
            fileByteCap: Int? = nil, segmentFrameCount: Int = 256, syncInterval: Int = 1
        ) {
            self.geometry = geometry
            self.ramSeconds = ramSeconds
            self.frameRate = frameRate
            self.directory = directory
            self.fileByteCap = fileByteCap
            self.segmentFrameCount = segmentFrameCount
            self.syncInterval = syncInterval
        }

        /// Frames the RAM ring holds: ceil(ramSeconds · frameRate), at least 1.
        public var ramFrameCapacity: Int { max(1, Int((ramSeconds * frameRate).rounded(.up))) }
        /// Bytes of one stored frame.
        public var recordSize: Int { RecordLayout(geometry: geometry).recordSize }
        /// Bytes of a full segment file.
        public var segmentByteCount: Int { SegmentFile.headerSize + segmentFrameCount * recordSize }

        func validate() throws(MemoryError) {
            guard ramSeconds > 0, ramSeconds.isFinite, frameRate > 0, frameRate.isFinite,
                ramSeconds * frameRate < 1e9
            else {
                throw .invalidFeatureSetting(
                    setting: "bank RAM", detail: "\(ramSeconds) s at \(frameRate) frames/s is not a positive size")
            }
            guard segmentFrameCount >= 2 else {
                throw .invalidFeatureSetting(
                    setting: "frames per segment", detail: "\(segmentFrameCount) is less than 2")
            }
            guard syncInterval >= 0 else {
                throw .invalidFeatureSetting(setting: "sync interval", detail: "\(syncInterval) is negative")
            }
            if let cap = fileByteCap, cap < 4 * segmentByteCount {
                throw .invalidFeatureSetting(
                    setting: "bank file cap",
                    detail: "\(cap) bytes is less than four segment files (\(4 * segmentByteCount) bytes at "
                        + "\(segmentFrameCount) frames of \(recordSize) bytes); raise the cap or use smaller segments")
            }
        }
    }

    /// The bank's settings.
    public let configuration: Configuration
    let layout: RecordLayout

    private var ram: [BankFrame] = []
    private var segments: [SegmentEntry] = []
    /// True when the last segment takes more records.
    private var lastSegmentIsOpen = false
    private var lockDescriptor: Int32 = -1
    private var logDescriptor: Int32 = -1
    private var isClosed = false
    private var pass: [PassEntry] = []
    /// Frames thinned from the files while still in the RAM ring: unreadable once they leave it.
    private var thinnedInRAM: Set<Int> = []
    private var unsyncedFrames = 0

    /// The newest frame's id and media time (nil for an empty bank).
    public private(set) var lastFrame: (id: Int, time: Double)?
    /// Frames removed from the files by thinning, over the bank's life (from thinning.jsonl).
    public private(set) var thinnedFrameCount = 0
    /// Frames that left the RAM ring with no file to keep them.
    public private(set) var droppedFrameCount = 0
    /// Damaged records found (holes skipped when reopening, records dropped when thinning).
    public private(set) var damagedRecordCount = 0
    /// Bytes of a torn last record cut off when reopening.
    public private(set) var discardedTailBytes = 0

    private struct PassEntry {
        var segmentNumber: Int
        /// Position of the segment's first frame within the thinned half (odd positions go).
        var firstPosition: Int
        /// Frames of the segment inside the half.
        var limit: Int
    }

    /// Opens a bank: an empty one, or the one in `configuration.directory`, resumed. `recovered` is called with
    /// the id, time and global key of every readable frame already in the files, oldest first.
    public init(
        _ configuration: Configuration, recovered: ((Int, Double, UnsafeBufferPointer<Float>) -> Void)? = nil
    ) throws(MemoryError) {
        try configuration.validate()
        self.configuration = configuration
        layout = RecordLayout(geometry: configuration.geometry)
        if let directory = configuration.directory { try open(directory, recovered: recovered) }
    }

    deinit { close() }

    /// An immutable view of every frame stored so far.
    public var view: FeatureBankView { FeatureBankView(layout: layout, ram: ram, segments: segments) }

    /// Bytes of the frames in the RAM ring.
    public var ramBytes: Int { ram.count * (layout.recordSize + 64) }
    /// Bytes of the segment files.
    public var fileBytes: Int { segments.reduce(0) { $0 + $1.byteCount } }
    /// Bytes of the in-RAM index of the file frames (ids, times, slots).
    public var indexBytes: Int { segments.reduce(0) { $0 + 20 * $1.ids.count + 128 } + 8 * thinnedInRAM.count }
    /// Frames in the RAM ring.
    public var ramFrameCount: Int { ram.count }

    /// Stores a frame; returns the ids of frames that stopped being readable because of it (left the RAM ring
    /// without a file, or were thinned from the files and are not in the ring). Throws, changing nothing, when
    /// `id` or `time` does not exceed the last frame's or the features are not finite; throws on file errors.
    @discardableResult
    public func append(id: Int, time: Double, features: FrameFeatures) throws(MemoryError) -> [Int] {
        precondition(!isClosed, "append to a closed feature bank")
        precondition(features.tokens.count == layout.geometry.frameValueCount, "frame of the wrong size")
        if let last = lastFrame, id <= last.id || !(time > last.time) {
            throw .frameOutOfOrder(frame: id, time: time, previousFrame: last.id, previousTime: last.time)
        }
        guard id >= 0, time.isFinite else {
            throw .frameOutOfOrder(frame: id, time: time, previousFrame: -1, previousTime: -.infinity)
        }
        let finite = features.tokens.withUnsafeBufferPointer { FeatureMath.allFinite($0) }
        guard finite else { throw .nonFiniteFeatures(frame: id) }

        let record = layout.encode(id: id, time: time, features: features)
        var removed: [Int] = []
        if configuration.directory != nil { try write(record, id: id, time: time, removed: &removed) }
        ram.append(BankFrame(id: id, time: time, record: record, layout: layout))
        lastFrame = (id, time)
        if ram.count > configuration.ramFrameCapacity {
            let old = ram.removeFirst()
            if configuration.directory == nil {
                droppedFrameCount += 1
                removed.append(old.id)
            } else if thinnedInRAM.remove(old.id) != nil {
                removed.append(old.id)
            }
        }
        return removed
    }

    /// Flushes the files to disk.
    public func flush() throws(MemoryError) {
        guard let segment = segments.last, lastSegmentIsOpen, unsyncedFrames > 0 else { return }
        guard fdatasync(segment.file.descriptor) == 0 else {
            throw .writeFailed(path: segment.file.path, reason: systemError())
        }
        unsyncedFrames = 0
    }

    /// Flushes and releases the folder (idempotent). Views keep working.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        try? flush()
        if logDescriptor >= 0 { Glibc.close(logDescriptor) }
        if lockDescriptor >= 0 { Glibc.close(lockDescriptor) }
        logDescriptor = -1
        lockDescriptor = -1
    }

    // MARK: - Writing

    private func write(_ record: [UInt8], id: Int, time: Double, removed: inout [Int]) throws(MemoryError) {
        let needsSegment = !lastSegmentIsOpen || segments.last!.slotCount >= configuration.segmentFrameCount
        if let cap = configuration.fileByteCap {
            let needed = layout.recordSize + (needsSegment ? SegmentFile.headerSize : 0)
            while fileBytes + needed > cap { try thinOnce(removed: &removed) }
        }
        if needsSegment { try createSegment(number: (segments.last?.file.number ?? -1) + 1) }
        let s = segments.count - 1
        let slot = segments[s].slotCount
        let file = segments[s].file
        try FileIO.write(record, at: file.offset(ofSlot: slot), to: file.descriptor, path: file.path)
        segments[s].ids.append(id)
        segments[s].times.append(time)
        segments[s].slots.append(Int32(slot))
        segments[s].slotCount += 1
        unsyncedFrames += 1
        if configuration.syncInterval > 0, unsyncedFrames >= configuration.syncInterval { try flush() }
    }

    private func createSegment(number: Int) throws(MemoryError) {
        try flush()
        let path = folderPath(SegmentFile.name(number))
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .writeFailed(path: path, reason: systemError()) }
        let header = SegmentFile.header(
            number: number, layout: layout, isThinned: false, capacity: configuration.segmentFrameCount)
        do throws(MemoryError) {
            try FileIO.write(header, at: 0, to: fd, path: path)
            guard fsync(fd) == 0 else { throw MemoryError.writeFailed(path: path, reason: systemError()) }
        } catch {
            Glibc.close(fd)
            unlink(path)
            throw error
        }
        AtomicFile.syncDirectory(of: path)
        segments.append(
            SegmentEntry(
                file: SegmentFile(path: path, number: number, layout: layout, isThinned: false, descriptor: fd)))
        lastSegmentIsOpen = true
    }

    private func folderPath(_ name: String) -> String {
        URL(fileURLWithPath: configuration.directory!).appendingPathComponent(name).path
    }

    // MARK: - Thinning

    /// Frees at least one record of file space: the next segment of the current thinning pass, or a new pass.
    private func thinOnce(removed: inout [Int]) throws(MemoryError) {
        let before = fileBytes
        while fileBytes == before {
            if pass.isEmpty, !planPass() {
                try dropOldestSegment(removed: &removed)
                return
            }
            try thin(pass.removeFirst(), removed: &removed)
        }
    }

    /// Plans the thinning of the oldest half of the file frames (never the open segment); false when that would
    /// free nothing.
    private func planPass() -> Bool {
        let total = segments.reduce(0) { $0 + $1.ids.count }
        let half = total / 2
        var position = 0
        var freed = 0
        for (index, segment) in segments.enumerated() where position < half {
            if index == segments.count - 1 && lastSegmentIsOpen { break }
            let take = min(segment.ids.count, half - position)
            pass.append(PassEntry(segmentNumber: segment.file.number, firstPosition: position, limit: take))
            freed += (position + take) / 2 - position / 2  // odd positions in [position, position + take)
            position += take
        }
        if freed == 0 { pass = [] }
        return freed > 0
    }

    /// Rewrites one segment without the pass's odd positions.
    private func thin(_ entry: PassEntry, removed: inout [Int]) throws(MemoryError) {
        guard let s = segments.firstIndex(where: { $0.file.number == entry.segmentNumber }) else { return }
        let old = segments[s]
        let drops = (0..<old.ids.count).filter { $0 < entry.limit && (entry.firstPosition + $0) % 2 == 1 }
        guard !drops.isEmpty else { return }
        let dropped = Set(drops)
        let temporary = old.file.path + ".tmp"
        let fd = Glibc.open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .writeFailed(path: temporary, reason: systemError()) }
        var kept = SegmentEntry(
            file: SegmentFile(
                path: old.file.path, number: old.file.number, layout: layout, isThinned: true, descriptor: fd))
        var thinned: [Int] = []
        var damaged: [Int] = []
        do throws(MemoryError) {
            let header = SegmentFile.header(
                number: old.file.number, layout: layout, isThinned: true, capacity: configuration.segmentFrameCount)
            try FileIO.write(header, at: 0, to: fd, path: temporary)
            for index in old.ids.indices {
                let id = old.ids[index]
                if dropped.contains(index) {
                    thinned.append(id)
                    continue
                }
                guard let frame = try old.file.readFrame(slot: Int(old.slots[index]), expectedID: id) else {
                    damaged.append(id)
                    continue
                }
                try FileIO.write(frame.record, at: kept.file.offset(ofSlot: kept.slotCount), to: fd, path: temporary)
                kept.ids.append(id)
                kept.times.append(old.times[index])
                kept.slots.append(Int32(kept.slotCount))
                kept.slotCount += 1
            }
            guard fsync(fd) == 0 else { throw MemoryError.writeFailed(path: temporary, reason: systemError()) }
            guard rename(temporary, old.file.path) == 0 else {
                throw MemoryError.writeFailed(path: old.file.path, reason: systemError())
            }
        } catch {
            unlink(temporary)
            throw error
        }
        AtomicFile.syncDirectory(of: old.file.path)
        if kept.ids.isEmpty {
            unlink(old.file.path)
            AtomicFile.syncDirectory(of: old.file.path)
            segments.remove(at: s)
        } else {
            segments[s] = kept
        }
        damagedRecordCount += damaged.count
        forget(thinned: thinned, damaged: damaged, segment: old.file.number, reason: "thinned", removed: &removed)
    }

    /// Last resort when a pass would free nothing: drop the oldest closed segment whole.
    private func dropOldestSegment(removed: inout [Int]) throws(MemoryError) {
        guard segments.count > 1 || !lastSegmentIsOpen, let first = segments.first else {
            preconditionFailure("feature bank cap below one segment")  // validate() rules this out
        }
        guard unlink(first.file.path) == 0 else { throw .writeFailed(path: first.file.path, reason: systemError()) }
        AtomicFile.syncDirectory(of: first.file.path)
        segments.removeFirst()
        if segments.isEmpty { lastSegmentIsOpen = false }
        forget(thinned: first.ids, damaged: [], segment: first.file.number, reason: "dropped", removed: &removed)
    }

    /// Records frames gone from the files (thinned, or found damaged on the way): unreadable now unless still in
    /// the RAM ring; logged as one line of thinning.jsonl.
    private func forget(thinned: [Int], damaged: [Int], segment: Int, reason: String, removed: inout [Int]) {
        let ramFirst = ram.first?.id ?? Int.max
        for id in thinned + damaged {
            if id >= ramFirst { thinnedInRAM.insert(id) } else { removed.append(id) }
        }
        thinnedFrameCount += thinned.count
        let line =
            JSONValue.object([
                ("segment", .int(segment)), ("reason", .string(reason)), ("removed", .array(thinned.map { .int($0) })),
                ("damaged", .array(damaged.map { .int($0) })), ("file_bytes", .int(fileBytes)),
            ]).serialized() + "\n"
        if logDescriptor >= 0 {
            // The log is informational: a failed write loses a line, never a frame.
            try? AtomicFile.writeAll(Array(line.utf8), to: logDescriptor, path: folderPath("thinning.jsonl"))
            _ = fdatasync(logDescriptor)
        }
    }

    // MARK: - Opening a folder

    private func open(_ directory: String, recovered: ((Int, Double, UnsafeBufferPointer<Float>) -> Void)?)
        throws(MemoryError)
    {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .writeFailed(path: directory, reason: error.localizedDescription)
        }
        let lockPath = folderPath("bank.lock")
        lockDescriptor = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockDescriptor >= 0 else { throw .writeFailed(path: lockPath, reason: systemError()) }
        guard flock(lockDescriptor, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let reason = systemError()
            Glibc.close(lockDescriptor)
            lockDescriptor = -1
            throw busy ? .featureBankInUse(path: directory) : .writeFailed(path: lockPath, reason: reason)
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where name.hasSuffix(".vfb.tmp") { unlink(folderPath(name)) }  // an interrupted thinning
        let numbers = names.compactMap(SegmentFile.number(ofName:)).sorted()
        for (position, number) in numbers.enumerated() {
            try openSegment(number: number, isLast: position == numbers.count - 1, recovered: recovered)
        }
        if let last = segments.last {
            lastSegmentIsOpen =
                !last.file.isThinned && last.slotCount < configuration.segmentFrameCount
                && fcntl(last.file.descriptor, F_GETFL) & O_ACCMODE == O_RDWR
        }
        let logPath = folderPath("thinning.jsonl")
        thinnedFrameCount = Self.thinnedCount(inLog: logPath)
        logDescriptor = Glibc.open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard logDescriptor >= 0 else { throw .writeFailed(path: logPath, reason: systemError()) }
    }

    private func openSegment(
        number: Int, isLast: Bool, recovered: ((Int, Double, UnsafeBufferPointer<Float>) -> Void)?
    ) throws(MemoryError) {
        let path = folderPath(SegmentFile.name(number))
        let fd = Glibc.open(path, (isLast ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        guard fd >= 0 else { throw .readFailed(path: path, reason: systemError()) }
        let size: Int
        var header = [UInt8](repeating: 0, count: SegmentFile.headerSize)
        do throws(MemoryError) {
            size = try FileIO.size(of: fd, path: path)
            _ = try FileIO.read(into: &header, at: 0, from: fd, path: path)
        } catch {
            Glibc.close(fd)
            throw error
        }
        if isLast && size < SegmentFile.headerSize {  // torn while being created: it held nothing
            Glibc.close(fd)
            unlink(path)
            return
        }
        let isThinned: Bool
        switch SegmentFile.parseHeader(header, layout: layout) {
        case .valid(let parsed, let thinned) where parsed == number:
            isThinned = thinned
        case .valid(let parsed, _):
            Glibc.close(fd)
            throw .corruptFeatureBank(path: path, detail: "its header says segment \(parsed)")
        case .invalid(let detail):
            Glibc.close(fd)
            throw .foreignFeatureBank(path: path, detail: detail)
        }
        var entry = SegmentEntry(
            file: SegmentFile(path: path, number: number, layout: layout, isThinned: isThinned, descriptor: fd))
        let slots = (size - SegmentFile.headerSize) / layout.recordSize
        var prefix = [UInt8](repeating: 0, count: layout.keyOffset)
        var whole = [UInt8](repeating: 0, count: isLast ? layout.recordSize : 0)
        var invalid: [Int] = []
        for slot in 0..<slots {
            let offset = entry.file.offset(ofSlot: slot)
            _ = try FileIO.read(into: &prefix, at: offset, from: fd, path: path)
            let parsed = prefix.withUnsafeBytes { layout.header($0) }
            guard let parsed, parsed.id > (lastFrame?.id ?? -1), parsed.time > (lastFrame?.time ?? -.infinity)
            else {
                invalid.append(slot)
                continue
            }
            if isLast {  // only the newest segment can hold a torn record: check all of it
                _ = try FileIO.read(into: &whole, at: offset, from: fd, path: path)
                guard whole.withUnsafeBytes({ layout.recordIsIntact($0) }) else {
                    invalid.append(slot)
                    continue
                }
            }
            entry.ids.append(parsed.id)
            entry.times.append(parsed.time)
            entry.slots.append(Int32(slot))
            lastFrame = (parsed.id, parsed.time)
            if let recovered {
                prefix.withUnsafeBytes { raw in
                    let g = (raw.baseAddress! + layout.globalOffset).assumingMemoryBound(to: Float.self)
                    recovered(parsed.id, parsed.time, UnsafeBufferPointer(start: g, count: layout.geometry.hiddenSize))
                }
            }
        }
        if isLast {
            let keep = Int(entry.slots.last ?? -1) + 1
            entry.slotCount = keep
            damagedRecordCount += invalid.filter { $0 < keep }.count
            let keptBytes = SegmentFile.headerSize + keep * layout.recordSize
            if keptBytes < size {
                discardedTailBytes += size - keptBytes
                guard ftruncate(fd, off_t(keptBytes)) == 0, fsync(fd) == 0 else {
                    throw .writeFailed(path: path, reason: systemError())
                }
            }
        } else {
            entry.slotCount = slots
            damagedRecordCount += invalid.count
        }
        if entry.ids.isEmpty && isLast && !isThinned {
            segments.append(entry)  // an empty newest segment: appending continues in it
        } else if !entry.ids.isEmpty {
            segments.append(entry)
        }
    }

    /// Frames removed by thinning according to the log (a torn last line is ignored).
    private static func thinnedCount(inLog path: String) -> Int {
        guard let bytes = try? AtomicFile.read(path) else { return 0 }
        var count = 0
        for line in bytes.split(separator: 0x0A) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                let removed = object["removed"] as? [Any]
            else { continue }
            count += removed.count
        }
        return count
    }
}
