// The feature memory end to end: boundedness after 3,600 and 36,000 frames (check 6.6-1), the invariants of every
// snapshot (6.6-2), detail frames equal to the brute-force argmin of their cluster and never later than t (6.6-5),
// exact causal global-key search, snapshots at earlier times, question-class plans, labels, resuming from a bank
// folder and a saved synopsis, and bad frames.

import Foundation
import Testing

@testable import Memory

@Suite struct FeatureMemoryTests {}

private let small = try! FeatureGeometry(tokenCount: 16, hiddenSize: 6)

/// Scenes that recur (a camera watching a few places in turn), so clusters hold scattered members.
private func recurringStream(_ geometry: FeatureGeometry, frames: Int, seed: UInt64 = 1) -> SceneStream {
    SceneStream(geometry: geometry, lengths: Array(repeating: 30, count: frames / 30 + 1), noise: 0.3, seed: seed)
}

/// Scene s of a recurring stream shows place s % places.
private struct Places {
    var stream: SceneStream
    let places: [[Float]]
    var random: TestRandom

    init(geometry: FeatureGeometry, places count: Int, seed: UInt64) {
        stream = SceneStream(geometry: geometry, lengths: [1], seed: seed)
        var r = TestRandom(seed: seed ^ 0x5151)
        places = (0..<count).map { _ in r.normals(geometry.frameValueCount) }
        random = TestRandom(seed: seed)
    }

    mutating func tokens(_ index: Int, sceneLength: Int = 40) -> [Float] {
        let place = places[(index / sceneLength) % places.count]
        return place.map { $0 + Float(random.normal() * 0.3) }
    }
}

private func memory(
    _ geometry: FeatureGeometry = small, folder: TemporaryFolder? = nil, ram: Double = 3600, k: Int = 12,
    mode: Synopsis.Mode = .ward, cap: Int? = nil, segment: Int = 256, versions: Int = 8
) throws -> FeatureMemory {
    try FeatureMemory(
        configuration: FeatureMemoryConfiguration(
            bank: FeatureBank.Configuration(
                geometry: geometry, ramSeconds: ram, directory: folder?.path, fileByteCap: cap,
                segmentFrameCount: segment, syncInterval: 0),
            synopsis: Synopsis.Configuration(clusterCount: k, mode: mode), retainedVersions: versions))
}

/// Checks invariant 2 on a snapshot and its default read; `times` maps frame ids to their times.
private func expectConsistent(
    _ snapshot: FeatureMemorySnapshot, _ read: FeatureMemoryRead, times: (Int) -> Double,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(snapshot.frameCount == snapshot.version, sourceLocation: sourceLocation)
    #expect(read.synopsis.reduce(0) { $0 + $1.frameCount } == snapshot.version, sourceLocation: sourceLocation)
    for cluster in snapshot.clusters {
        let memberTimes = cluster.members.ranges.flatMap { $0.map(times) }
        #expect(cluster.start == memberTimes.min() && cluster.end == memberTimes.max(), sourceLocation: sourceLocation)
        #expect(cluster.start <= cluster.meanTime && cluster.meanTime <= cluster.end, sourceLocation: sourceLocation)
    }
    for block in read.blocks {
        #expect(block.start <= block.time && block.time <= block.end, sourceLocation: sourceLocation)
        #expect(block.end <= snapshot.time!, sourceLocation: sourceLocation)
        #expect(block.tokens.count == snapshot.geometry.frameValueCount, sourceLocation: sourceLocation)
    }
    for section in [read.synopsis, read.detail, read.current] {
        let order = section.map(\.time)
        #expect(order == order.sorted(), sourceLocation: sourceLocation)
    }
}

extension FeatureMemoryTests {
    @Test func memoryStaysBoundedAfter3600And36000Frames() throws {
        let geometry = try FeatureGeometry(tokenCount: 64, hiddenSize: 4)
        let memory = try memory(geometry)
        var places = Places(geometry: geometry, places: 20, seed: 3)
        var usage: [Int: FeatureMemoryUsage] = [:]
        for id in 0..<36_000 {
            try memory.ingest(frame: id, tokens: places.tokens(id), time: Double(id))
            guard id + 1 == 3_600 || id + 1 == 36_000 else { continue }
            let snapshot = try memory.snapshot()
            let read = try snapshot.read()
            #expect(read.blocks.count == 17 && read.current.count == 2 && read.synopsis.count == 12)
            #expect(read.detail.count == 3)
            #expect(read.blocks.count * geometry.tokenCount == 1_088)
            expectConsistent(snapshot, read, times: { Double($0) })
            usage[id + 1] = memory.usage
        }
        let (hour, tenHours) = (usage[3_600]!, usage[36_000]!)
        let recordBytes = FeatureBank.Configuration(geometry: geometry).recordSize + 64
        #expect(tenHours.bankRAMFrames == 3_600 && tenHours.bankRAMBytes == 3_600 * recordBytes)
        #expect(tenHours.droppedFrames == 32_400 && tenHours.bankFileBytes == 0)
        // Global keys mirror the readable frames (compacted in bulk): at most 3/2 of the ring, in 1,024-row chunks.
        #expect(tenHours.globalKeyBytes <= (3_600 * 3 / 2 + 1_024) * (16 * 4 + 16))
        let growth = tenHours.ramBytesExcludingBankAndKeys - hour.ramBytesExcludingBankAndKeys
        #expect(growth <= 5_000_000, "grew by \(growth) bytes")
        #expect(tenHours.ramBytesExcludingBankAndKeys < 1_000_000)
        print("feature memory usage after 3,600 frames: \(hour)\nafter 36,000: \(tenHours)")
    }

    @Test(arguments: Synopsis.Mode.allCases)
    func everySnapshotIsConsistent(mode: Synopsis.Mode) throws {
        let memory = try memory(ram: 50, k: 8, mode: mode)
        var stream = recurringStream(small, frames: 400, seed: 8)
        var frames: [[Float]] = []
        for id in 0..<400 {
            frames.append(stream.tokens(id))
            let version = try memory.ingest(frame: id, tokens: frames[id], time: Double(id) * 0.5)
            let snapshot = try memory.snapshot()
            #expect(snapshot.version == version && version == id + 1 && snapshot.time == Double(id) * 0.5)
            guard id % 7 == 0 || id == 399 else { continue }
            let read = try snapshot.read(ReadPlan(currentCount: 2, synopsisCount: 6, detailCount: 3))
            expectConsistent(snapshot, read, times: { Double($0) * 0.5 })
            // Current blocks are the newest frames with their exact tokens.
            #expect(read.current.map(\.frameID) == (id >= 1 ? [id - 1, id] : [id]))
            #expect(read.current.last?.tokens == frames[id])
        }
    }

    @Test(arguments: [false, true])
    func detailFramesAreTheBruteForceArgminOfTheirClusters(usesFiles: Bool) throws {
        let folder = usesFiles ? try TemporaryFolder() : nil
        defer { folder?.remove() }
        // A small ring: with files, most members are read back from disk; without, old members are gone.
        let memory = try memory(folder: folder, ram: 60, k: 6, segment: 16, versions: 20)
        var places = Places(geometry: small, places: 4, seed: 12)
        var checked = 0
        for id in 0..<600 {
            try memory.ingest(frame: id, tokens: places.tokens(id, sceneLength: 25), time: Double(id))
            guard id % 50 == 49 else { continue }
            // Read both now and as of an earlier time.
            for t in [Double(id), Double(id) - 17.5] {
                let snapshot = try memory.snapshot(at: t)
                #expect(snapshot.time! <= t)
                let guided = [Double(id) - 100.2, Double(id) - 99.9, Double(id) - 300]
                let current = try snapshot.currentBlocks(count: 2)
                let choices = try snapshot.detailFrames(count: 4, guidedTimes: guided, avoiding: current.map(\.time))
                var taken = current.map(\.time)
                for choice in choices {
                    #expect(choice.time <= snapshot.time! && snapshot.bank.time(ofFrame: choice.frameID) == choice.time)
                    func eligible(_ time: Double) -> Bool { taken.allSatisfy { abs($0 - time) > 2 } }
                    switch choice.source {
                    case .question(let time):
                        #expect(time == guided[0])  // the second guided time's frame is within 2 s of the first
                        let nearest = snapshot.bank.frame(nearest: time, notAfter: snapshot.time!)
                        #expect(nearest?.id == choice.frameID)
                    case .cluster(let index):
                        let cluster = snapshot.clusters[index]
                        #expect(cluster.members.contains(choice.frameID))
                        var best: (id: Int, distance: Float)?
                        let centroid = cluster.centroid
                        for range in cluster.members.ranges {
                            for member in range {
                                guard let frame = try snapshot.frame(id: member), frame.time <= snapshot.time!,
                                    eligible(frame.time)
                                else { continue }
                                let d = FeatureMath.squaredDistance(frame.key(), centroid)
                                if best == nil || d < best!.distance { best = (member, d) }
                            }
                        }
                        #expect(best?.id == choice.frameID)
                        checked += 1
                    }
                    taken.append(choice.time)
                }
                // Heavier clusters than a chosen one were either covered or had no eligible member.
                let read = try snapshot.read(
                    ReadPlan(currentCount: 2, synopsisCount: 6, detailCount: 4), guidedTimes: guided)
                #expect(read.detail.map(\.frameID) == choices.sorted { $0.time < $1.time }.map(\.frameID))
                #expect(read.detail.allSatisfy { $0.time <= t })
            }
        }
        #expect(checked > 20)
    }

    @Test func globalKeySearchIsExactCausalAndSkipsGoneFrames() throws {
        let geometry = try FeatureGeometry(tokenCount: 4, hiddenSize: 16)
        let memory = try memory(geometry, ram: 500)
        var random = TestRandom(seed: 31)
        var keys: [[Float]] = []
        var earlier: FeatureMemorySnapshot?
        for id in 0..<2_000 {
            let tokens = random.normals(geometry.frameValueCount)
            keys.append(FrameFeatures(tokens: tokens, geometry: geometry).globalKey)
            try memory.ingest(frame: id, tokens: tokens, time: Double(id))
            if id == 1_899 { earlier = try memory.snapshot() }  // still valid after 100 more frames
        }
        func cosine(_ a: [Float], _ b: [Float]) -> Double {
            var (ab, aa, bb) = (0.0, 0.0, 0.0)
            for (x, y) in zip(a, b) { (ab, aa, bb) = (ab + Double(x * y), aa + Double(x * x), bb + Double(y * y)) }
            return ab / (aa.squareRoot() * bb.squareRoot())
        }
        for (snapshot, window) in [(try memory.snapshot(), 1_500..<2_000), (earlier!, 1_400..<1_900)] {
            #expect(snapshot.version == window.upperBound)
            for _ in 0..<5 {
                let query = random.normals(16)
                let found = snapshot.searchGlobalKeys(query, k: 10)
                let expected = window.map { ($0, cosine(query, keys[$0])) }.sorted { $0.1 > $1.1 }.prefix(10)
                #expect(found.map(\.id) == expected.map(\.0))
                for (match, truth) in zip(found, expected) { #expect(abs(Double(match.score) - truth.1) < 1e-5) }
                let bounded = snapshot.searchGlobalKeys(
                    query, k: 3, filter: VectorSearchFilter(maxTime: 1_700, minTime: 1_600))
                #expect(bounded.allSatisfy { (1_600...1_700).contains($0.id) } && bounded.count == 3)
            }
        }
        #expect(memory.usage.globalKeyBytes < 2_000 * (16 * 4 + 16))  // compacted: dropped frames left the index
    }

    @Test func snapshotsAreTakenAsOfAQuestionsTime() throws {
        let memory = try memory()
        let empty = try memory.snapshot()
        #expect(empty.version == 0 && empty.time == nil)
        #expect(try empty.read().blocks.isEmpty)
        var stream = recurringStream(small, frames: 30)
        for id in 0..<30 { try memory.ingest(frame: id, tokens: stream.tokens(id), time: Double(id) + 0.5) }
        #expect(try memory.snapshot().version == 30)
        #expect(try memory.snapshot(at: 25.7).time == 25.5)
        #expect(try memory.snapshot(at: 25.7).version == 26)
        #expect(try memory.snapshot(at: 1e9).version == 30)
        #expect(throws: MemoryError.snapshotUnavailable(time: 10, oldest: 22.5)) { try memory.snapshot(at: 10) }
    }

    @Test func questionClassesShiftTheBlockCounts() throws {
        let base = ReadPlan()
        #expect(base.blockCount == 17)
        #expect(base.shifted(for: .current) == ReadPlan(currentCount: 4, synopsisCount: 8, detailCount: 3))
        #expect(base.shifted(for: .past) == ReadPlan(currentCount: 2, synopsisCount: 10, detailCount: 4))
        #expect(base.shifted(for: .global) == ReadPlan(currentCount: 2, synopsisCount: 12, detailCount: 0))
        #expect(
            ReadPlan.smolVLM2_500M.shifted(for: .current) == ReadPlan(currentCount: 4, synopsisCount: 5, detailCount: 2)
        )
        let memory = try memory()
        var places = Places(geometry: small, places: 6, seed: 4)
        for id in 0..<400 { try memory.ingest(frame: id, tokens: places.tokens(id), time: Double(id)) }
        let snapshot = try memory.snapshot()
        for questionClass in QuestionClass.allCases {
            let read = try snapshot.read(for: questionClass)
            let plan = base.shifted(for: questionClass)
            #expect(read.current.count == plan.currentCount && read.synopsis.count == plan.synopsisCount)
            #expect(read.detail.count == plan.detailCount)
            #expect(read.synopsis.reduce(0) { $0 + $1.frameCount } == 400)
        }
    }

    @Test func blocksCarryPromptLabels() {
        #expect(MemoryBlock.clock(0) == "00:00" && MemoryBlock.clock(75.9) == "01:15")
        #expect(MemoryBlock.clock(3_599.99) == "59:59" && MemoryBlock.clock(3_725) == "1:02:05")
        #expect(MemoryBlock.clock(-3) == "00:00" && MemoryBlock.clock(36_000) == "10:00:00")
        let tokens: [Float] = [0]
        let synopsis = MemoryBlock(
            kind: .synopsis, tokens: tokens, start: 61, end: 190.5, time: 100, frameCount: 42, frameID: nil)
        let detail = MemoryBlock(kind: .detail, tokens: tokens, start: 75, end: 75, time: 75, frameCount: 1, frameID: 7)
        let current = MemoryBlock(
            kind: .current, tokens: tokens, start: 3_700, end: 3_700, time: 3_700, frameCount: 1, frameID: 9)
        #expect(synopsis.label == "Frames 01:01–03:10 (42):")
        #expect(detail.label == "Frame at 01:15:" && current.label == "Now 1:01:40:")
    }

    @Test func aReopenedMemoryResumesFromTheBankAndASavedState() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var stream = recurringStream(small, frames: 130, seed: 6)
        let frames = (0..<130).map { stream.tokens($0) }
        var saved: [UInt8] = []
        do {
            let first = try memory(folder: folder, ram: 20, segment: 16)
            for id in 0..<100 {
                try first.ingest(frame: id, tokens: frames[id], time: Double(id))
                if id == 79 { saved = first.synopsisState.serialized() }
            }
            first.close()
        }
        let state = try SynopsisState(serialized: saved)
        #expect(state.frameCount == 80 && state.lastFrameID == 79)
        let resumed = try FeatureMemory(
            configuration: FeatureMemoryConfiguration(
                bank: FeatureBank.Configuration(
                    geometry: small, ramSeconds: 20, directory: folder.path, segmentFrameCount: 16, syncInterval: 0)),
            restoring: state)
        #expect(resumed.lastFrame?.id == 99 && resumed.lastFrame?.time == 99)
        let snapshot = try resumed.snapshot()
        #expect(snapshot.version == 100 && snapshot.frameCount == 100)
        #expect(snapshot.bank.frameCount == 100)
        #expect(
            snapshot.searchGlobalKeys(FrameFeatures(tokens: frames[42], geometry: small).globalKey, k: 1).first?.id
                == 42)
        #expect(throws: MemoryError.self) { try resumed.ingest(frame: 99, tokens: frames[99], time: 100) }
        for id in 100..<130 { try resumed.ingest(frame: id, tokens: frames[id], time: Double(id)) }
        let read = try resumed.snapshot().read()
        expectConsistent(try resumed.snapshot(), read, times: { Double($0) })
        #expect(read.blocks.count == 17)
        // A state of another configuration is refused.
        resumed.close()
        #expect(throws: MemoryError.self) {
            try FeatureMemory(
                configuration: FeatureMemoryConfiguration(
                    bank: FeatureBank.Configuration(geometry: small, directory: folder.path),
                    synopsis: Synopsis.Configuration(clusterCount: 5)),
                restoring: state)
        }
    }

    @Test func badFramesChangeNothing() throws {
        let memory = try memory()
        var stream = recurringStream(small, frames: 3)
        try memory.ingest(frame: 5, tokens: stream.tokens(0), time: 1)
        #expect(throws: MemoryError.self) { try memory.ingest(frame: 5, tokens: stream.tokens(1), time: 2) }
        #expect(throws: MemoryError.self) { try memory.ingest(frame: 6, tokens: stream.tokens(1), time: 1) }
        var bad = stream.tokens(2)
        bad[0] = .infinity
        #expect(throws: MemoryError.nonFiniteFeatures(frame: 6)) { try memory.ingest(frame: 6, tokens: bad, time: 2) }
        let snapshot = try memory.snapshot()
        #expect(snapshot.version == 1 && snapshot.bank.frameCount == 1 && memory.lastFrame?.id == 5)
        try memory.ingest(frame: 9, tokens: stream.tokens(2), time: 2)  // gaps in frame numbers are fine
        #expect(try memory.snapshot().clusters.map(\.members.description).sorted() == ["5", "9"])
    }
}
