// The feature bank: the RAM ring (newest frames, oldest dropped without a folder), write-through segment files read
// back with pread, resuming a folder (ids and times continue), a torn tail after a crash (cut off, earlier frames
// intact), damaged records, the hard byte cap's oldest-first thinning and its log, and bad input.

import Foundation
import Glibc
import Testing

@testable import Memory

@Suite struct FeatureBankTests {}

private let geometry = try! FeatureGeometry(tokenCount: 4, hiddenSize: 6)

/// Frame `i`'s tokens: distinct, deterministic values.
private func tokens(_ i: Int) -> [Float] {
    (0..<geometry.frameValueCount).map { Float(i) + Float($0) * 0.01 - 0.5 }
}

private func features(_ i: Int) -> FrameFeatures { FrameFeatures(tokens: tokens(i), geometry: geometry) }

private func configuration(
    _ folder: TemporaryFolder?, ram: Double = 3, segment: Int = 4, cap: Int? = nil
) -> FeatureBank.Configuration {
    FeatureBank.Configuration(
        geometry: geometry, ramSeconds: ram, directory: folder?.path, fileByteCap: cap, segmentFrameCount: segment,
        syncInterval: 0)
}

/// Checks that `frame` holds frame i's values as the bank stores them.
private func expectFrame(_ frame: BankFrame?, _ i: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let frame else {
        Issue.record("frame \(i) missing", sourceLocation: sourceLocation)
        return
    }
    let f = features(i)
    #expect(frame.id == i && frame.time == Double(i) * 1.5, sourceLocation: sourceLocation)
    #expect(frame.tokens() == f.tokens.map(storedHalf), sourceLocation: sourceLocation)
    #expect(frame.key() == f.key.map(storedHalf), sourceLocation: sourceLocation)
    #expect(frame.globalKey() == f.globalKey, sourceLocation: sourceLocation)
}

private func segmentPaths(_ folder: TemporaryFolder) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasSuffix(".vfb") }
        .sorted().map(folder.file)
}

extension FeatureBankTests {
    @Test func ramOnlyKeepsTheNewestFramesAndDropsTheOldest() throws {
        let bank = try FeatureBank(configuration(nil, ram: 5))
        var removed: [Int] = []
        for i in 0..<12 { removed += try bank.append(id: i, time: Double(i) * 1.5, features: features(i)) }
        #expect(removed == Array(0..<7))
        #expect(bank.droppedFrameCount == 7 && bank.ramFrameCount == 5 && bank.fileBytes == 0)
        #expect(bank.ramBytes == 5 * (bank.configuration.recordSize + 64))
        let view = bank.view
        #expect(view.frameCount == 5 && view.newest?.id == 11)
        #expect(try view.frame(id: 6) == nil)
        for i in 7..<12 { expectFrame(try view.frame(id: i), i) }
    }

    @Test func writeThroughFilesServeFramesThatLeftTheRing() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let bank = try FeatureBank(configuration(folder, ram: 3, segment: 4))
        for i in 0..<10 { #expect(try bank.append(id: i, time: Double(i) * 1.5, features: features(i)).isEmpty) }
        #expect(segmentPaths(folder).count == 3)
        #expect(bank.fileBytes == 3 * SegmentFile.headerSize + 10 * bank.configuration.recordSize)
        let view = bank.view
        #expect(view.frameCount == 10)
        for i in 0..<10 { expectFrame(try view.frame(id: i), i) }
        // Lookups across the file/RAM boundary (ring = 7, 8, 9).
        var seen: [Int] = []
        view.forEachFrame(in: 2...8) { id, _ in seen.append(id) }
        #expect(seen == Array(2...8))
        #expect(view.frame(nearest: 4.4, notAfter: 100)?.id == 3)  // 4.5 is nearer than 3.0
        #expect(view.frame(nearest: 3.75, notAfter: 100)?.id == 2)  // a tie goes to the earlier frame
        #expect(view.frame(nearest: 100, notAfter: 10)?.id == 6)
        #expect(view.frame(nearest: -5, notAfter: 100)?.id == 0)
        #expect(view.frame(nearest: 5, notAfter: -1) == nil)
        #expect(view.newestFrames(count: 4, notAfter: 12.1).map(\.id) == [5, 6, 7, 8])
        #expect(view.time(ofFrame: 4) == 6.0 && view.time(ofFrame: 10) == nil)
        // A view taken earlier does not see later frames.
        try bank.append(id: 10, time: 15, features: features(10))
        #expect(view.newest?.id == 9 && bank.view.newest?.id == 10 && !view.contains(10))
    }

    @Test func reopeningResumesTheBank() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        do {
            let bank = try FeatureBank(configuration(folder, segment: 4))
            for i in 0..<6 { try bank.append(id: 2 * i, time: Double(2 * i) * 1.5, features: features(2 * i)) }
            bank.close()
        }
        var recovered: [(Int, Double, [Float])] = []
        let bank = try FeatureBank(configuration(folder, segment: 4)) { id, time, g in
            recovered.append((id, time, Array(g)))
        }
        #expect(recovered.map(\.0) == [0, 2, 4, 6, 8, 10])
        #expect(recovered.allSatisfy { $0.1 == Double($0.0) * 1.5 && $0.2 == features($0.0).globalKey })
        #expect(bank.lastFrame?.id == 10 && bank.lastFrame?.time == 15)
        #expect(bank.ramFrameCount == 0 && bank.view.frameCount == 6)
        #expect(throws: MemoryError.frameOutOfOrder(frame: 10, time: 16, previousFrame: 10, previousTime: 15)) {
            try bank.append(id: 10, time: 16, features: features(10))
        }
        #expect(throws: MemoryError.self) { try bank.append(id: 11, time: 15, features: features(11)) }
        try bank.append(id: 11, time: 16.5, features: features(11))  // segment 1 continues: 8, 10, 11, 12
        try bank.append(id: 12, time: 18, features: features(12))
        #expect(segmentPaths(folder).count == 2)
        try bank.append(id: 13, time: 19.5, features: features(13))
        #expect(segmentPaths(folder).count == 3)
        for i in [0, 2, 4, 6, 8, 10, 11, 12, 13] { expectFrame(try bank.view.frame(id: i), i) }
    }

    @Test func aTornTailIsCutOffAndEarlierFramesStayIntact() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let recordSize = configuration(folder).recordSize
        do {
            let bank = try FeatureBank(configuration(folder, segment: 8))
            for i in 0..<11 { try bank.append(id: i, time: Double(i) * 1.5, features: features(i)) }
            bank.close()
        }
        // Crash 1: the newest record is half written.
        let last = segmentPaths(folder).last!
        let size = try FileManager.default.attributesOfItem(atPath: last)[.size] as! Int
        #expect(truncate(last, off_t(size - recordSize / 2)) == 0)
        do {
            let bank = try FeatureBank(configuration(folder, segment: 8))
            #expect(bank.lastFrame?.id == 9 && bank.discardedTailBytes == recordSize - recordSize / 2)
            #expect(bank.damagedRecordCount == 0)
            for i in 0..<10 { expectFrame(try bank.view.frame(id: i), i) }
            #expect(try bank.view.frame(id: 10) == nil)
            try bank.append(id: 10, time: 15, features: features(10))  // the lost frame again
            bank.close()
        }
        // Crash 2: the file was extended by a whole record of zeros (size grew before the data landed).
        let handle = FileHandle(forWritingAtPath: last)!
        handle.seekToEndOfFile()
        handle.write(Data(count: recordSize))
        handle.closeFile()
        let bank = try FeatureBank(configuration(folder, segment: 8))
        #expect(bank.lastFrame?.id == 10 && bank.discardedTailBytes == recordSize)
        for i in 0...10 { expectFrame(try bank.view.frame(id: i), i) }
        let kept = try FileManager.default.attributesOfItem(atPath: last)[.size] as! Int
        #expect(kept == SegmentFile.headerSize + 3 * recordSize)
    }

    @Test func damagedRecordsAreHolesOrReadErrors() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let layout = RecordLayout(geometry: geometry)
        do {
            let bank = try FeatureBank(configuration(folder, segment: 4))
            for i in 0..<10 { try bank.append(id: i, time: Double(i) * 1.5, features: features(i)) }
            bank.close()
        }
        let first = segmentPaths(folder)[0]
        func flip(_ offset: Int) throws {
            let handle = FileHandle(forUpdatingAtPath: first)!
            handle.seek(toFileOffset: UInt64(offset))
            let byte = handle.readData(ofLength: 1)[0]
            handle.seek(toFileOffset: UInt64(offset))
            handle.write(Data([byte ^ 0x40]))
            handle.closeFile()
        }
        // Frame 1's header (time) and frame 2's tokens.
        try flip(SegmentFile.headerSize + layout.recordSize + 17)
        try flip(SegmentFile.headerSize + 2 * layout.recordSize + layout.tokensOffset + 5)
        let bank = try FeatureBank(configuration(folder, segment: 4))
        #expect(bank.damagedRecordCount == 1 && bank.view.frameCount == 9)
        #expect(try bank.view.frame(id: 1) == nil)
        #expect(throws: MemoryError.self) { try bank.view.frame(id: 2) }
        expectFrame(try bank.view.frame(id: 3), 3)
    }

    @Test func theByteCapThinsTheOldestHalfOneFrameInTwo() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let probe = configuration(folder, ram: 2, segment: 4)
        let cap = 4 * probe.segmentByteCount
        let bank = try FeatureBank(configuration(folder, ram: 2, segment: 4, cap: cap))
        var removed: [Int] = []
        for i in 0..<16 { removed += try bank.append(id: i, time: Double(i) * 1.5, features: features(i)) }
        #expect(removed.isEmpty && bank.fileBytes == cap)
        // Frame 16 needs a fifth segment: the oldest half (frames 0–7) loses positions 1, 3 (segment 0) first.
        removed = try bank.append(id: 16, time: 24, features: features(16))
        #expect(removed == [1, 3] && bank.thinnedFrameCount == 2)
        var present: [Int] = []
        bank.view.forEachFrame(in: 0...100) { id, _ in present.append(id) }
        #expect(present == [0, 2] + Array(4...16))
        // Keep going: the cap always holds, the newest frames are all there, old ones get sparser.
        for i in 17..<200 {
            removed += try bank.append(id: i, time: Double(i) * 1.5, features: features(i))
            #expect(bank.fileBytes <= cap)
        }
        present = []
        bank.view.forEachFrame(in: 0...1000) { id, _ in present.append(id) }
        #expect(present.suffix(8) == Array(192..<200))
        #expect(present.first == 0)
        #expect(Set(removed).count == removed.count && Set(removed).isDisjoint(with: present))
        #expect(removed.count + present.count == 200 && bank.thinnedFrameCount == removed.count)
        let gaps = zip(present, present.dropFirst()).map { $1 - $0 }
        #expect(gaps.first! >= gaps.last!)  // sparser at the old end
        for id in present { expectFrame(try bank.view.frame(id: id), id) }
        // The log names every thinned frame; reopening keeps the count and the frames.
        let log = try String(contentsOfFile: folder.file("thinning.jsonl"), encoding: .utf8)
        let logged = log.split(separator: "\n").flatMap { line -> [Int] in
            let object = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            return object["removed"] as! [Int]
        }
        #expect(logged.sorted() == removed.sorted())
        bank.close()
        let reopened = try FeatureBank(configuration(folder, ram: 2, segment: 4, cap: cap))
        #expect(reopened.thinnedFrameCount == removed.count)
        var again: [Int] = []
        reopened.view.forEachFrame(in: 0...1000) { id, _ in again.append(id) }
        #expect(again == present)
    }

    @Test func thinnedFramesStillInTheRingStayReadableUntilTheyLeaveIt() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let probe = configuration(folder, ram: 30, segment: 4)
        let bank = try FeatureBank(configuration(folder, ram: 30, segment: 4, cap: 4 * probe.segmentByteCount))
        var removed: [Int] = []
        for i in 0..<17 { removed += try bank.append(id: i, time: Double(i), features: features(i)) }
        #expect(removed.isEmpty && bank.thinnedFrameCount == 2 && bank.view.contains(1))
        for i in 17..<32 { removed += try bank.append(id: i, time: Double(i), features: features(i)) }
        #expect(removed.contains(1) && !bank.view.contains(1) && bank.view.contains(0))
    }

    @Test func badSettingsForeignFoldersAndBusyFoldersAreRefused() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        #expect(throws: MemoryError.self) { try FeatureBank(configuration(folder, cap: 1000)) }
        #expect(throws: MemoryError.self) { try FeatureBank(configuration(nil, ram: 0)) }
        #expect(throws: MemoryError.self) { try FeatureBank(configuration(nil, segment: 1)) }
        let bank = try FeatureBank(configuration(folder))
        try bank.append(id: 0, time: 0, features: features(0))
        #expect(throws: MemoryError.featureBankInUse(path: folder.path)) { try FeatureBank(configuration(folder)) }
        bank.close()
        let other = try FeatureGeometry(tokenCount: 9, hiddenSize: 6)
        do {
            _ = try FeatureBank(FeatureBank.Configuration(geometry: other, directory: folder.path))
            Issue.record("a bank of another geometry opened")
        } catch let error {
            guard case .foreignFeatureBank = error else { throw error }
        }
        var bad = tokens(1)
        bad[3] = .nan
        let ram = try FeatureBank(configuration(nil))
        #expect(throws: MemoryError.nonFiniteFeatures(frame: 1)) {
            try ram.append(id: 1, time: 1, features: FrameFeatures(tokens: bad, geometry: geometry))
        }
        #expect(ram.lastFrame == nil && ram.ramFrameCount == 0)
    }
}
