// Check 6.6-7 of ../shared/briefs/memory.md: one writer ingesting at 10 Hz and 100 concurrent readers taking
// snapshots and building full reads, for a bounded time (5 s; VIGIL_FEATMEM_CONCURRENCY_SECONDS=60 for the brief's
// minute). Every snapshot a reader gets must satisfy invariant 2 for its version (no torn snapshot: Σ w equals the
// version, the newest frames are the version's, blocks are time-sorted and within their labels), and everything
// must finish (no deadlock). The bank has files, a small RAM ring and a byte cap, so readers pread from segment
// files while the writer appends to them and thins (replaces) old ones. Run under Thread Sanitizer with
// `swift test --sanitize=thread --filter FeatureMemoryConcurrencyTests`.

import Dispatch
import Foundation
import Synchronization
import TestSupport
import Testing

@testable import Memory

@Suite(.serialized, .holdingSerialLock) struct FeatureMemoryConcurrencyTests {}

/// What the readers saw (behind pthread locks, which Thread Sanitizer understands; see Locked.swift).
private final class ReaderTally: Sendable {
    let reads = Atomic<Int>(0)
    let agedOut = Atomic<Int>(0)
    let versions = Locked<Set<Int>>([])
    let failures = Locked<[String]>([])

    func fail(_ message: String) { failures.withLock { if $0.count < 20 { $0.append(message) } } }
}

extension FeatureMemoryConcurrencyTests {
    @Test func aWriterAndAHundredReadersNeverSeeATornSnapshot() async throws {
        let seconds = ProcessInfo.processInfo.environment["VIGIL_FEATMEM_CONCURRENCY_SECONDS"].flatMap(Double.init) ?? 5
        let folder = try TemporaryFolder("featmem-concurrency")
        defer { folder.remove() }
        let geometry = try FeatureGeometry(tokenCount: 16, hiddenSize: 8)
        let bankSettings = FeatureBank.Configuration(
            geometry: geometry, ramSeconds: 12, directory: folder.path, segmentFrameCount: 8, syncInterval: 0)
        let memory = try FeatureMemory(
            configuration: FeatureMemoryConfiguration(
                bank: FeatureBank.Configuration(
                    geometry: geometry, ramSeconds: 12, directory: folder.path,
                    fileByteCap: 6 * bankSettings.segmentByteCount, segmentFrameCount: 8, syncInterval: 0),
                retainedVersions: 16))
        var random = TestRandom(seed: 42)
        let places = (0..<5).map { _ in random.normals(geometry.frameValueCount) }
        @Sendable func tokens(_ id: Int, _ random: inout TestRandom) -> [Float] {
            places[(id / 7) % places.count].map { $0 + Float(random.normal() * 0.3) }
        }
        for id in 0..<60 { try memory.ingest(frame: id, tokens: tokens(id, &random), time: Double(id)) }

        let tally = ReaderTally()
        let deadline = Date().addingTimeInterval(seconds)
        let group = DispatchGroup()
        let writerRandom = random
        let written = Atomic<Int>(60)
        let writer = Thread {
            var random = writerRandom
            var id = 60
            repeat {
                do {
                    try memory.ingest(frame: id, tokens: tokens(id, &random), time: Double(id))
                    written.store(id + 1, ordering: .relaxed)
                } catch {
                    tally.fail("ingest \(id): \(error)")
                }
                id += 1
                usleep(100_000)  // 10 Hz
            } while Date() < deadline
            group.leave()
        }
        group.enter()
        writer.start()
        for reader in 0..<100 {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                var random = TestRandom(seed: UInt64(reader))
                repeat {
                    do {
                        let snapshot: FeatureMemorySnapshot
                        if reader % 2 == 0 {
                            snapshot = try memory.snapshot()
                        } else {
                            // As of a recent time. A reader descheduled for a while may ask for a version that
                            // has aged out of the 16 kept by then: that answer is right, and counted.
                            let newest = Double(written.load(ordering: .relaxed) - 1)
                            let time = newest - Double(random.next() % 8) - random.uniform()
                            do {
                                snapshot = try memory.snapshot(at: time)
                            } catch MemoryError.snapshotUnavailable(_, let oldest?) where oldest > time {
                                tally.agedOut.add(1, ordering: .relaxed)
                                continue
                            }
                        }
                        Self.check(snapshot, try snapshot.read(guidedTimes: [snapshot.time! - 20]), tally)
                        tally.reads.add(1, ordering: .relaxed)
                        tally.versions.withLock { _ = $0.insert(snapshot.version) }
                    } catch {
                        tally.fail("reader \(reader): \(error)")
                    }
                } while Date() < deadline
            }
            thread.start()
        }
        let finished = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: group.wait(timeout: .now() + seconds + livenessBound) == .success)
            }
        }
        #expect(finished, "the writer or a reader did not finish: deadlock")
        let failures = tally.failures.withLock { $0 }
        #expect(failures.isEmpty, "\(failures)")
        let reads = tally.reads.load(ordering: .relaxed)
        let versions = tally.versions.withLock { $0.count }
        let frames = written.load(ordering: .relaxed)
        // Every reader and the writer ran at least once (how often depends on the machine: not asserted).
        #expect(reads >= 100 && versions >= 1 && frames > 60)
        let agedOut = tally.agedOut.load(ordering: .relaxed)
        print(
            "feature memory concurrency: \(frames - 60) frames written, \(reads) reads of \(versions) versions, "
                + "\(agedOut) requests for versions no longer kept")
    }

    /// Invariant 2 for one snapshot and its read.
    private static func check(_ snapshot: FeatureMemorySnapshot, _ read: FeatureMemoryRead, _ tally: ReaderTally) {
        let version = snapshot.version
        let weights = snapshot.clusters.reduce(0) { $0 + $1.weight }
        guard weights == version, read.synopsis.reduce(0, { $0 + $1.frameCount }) == version else {
            return tally.fail("version \(version): weights add up to \(weights)")
        }
        // Frame ids and times are 0, 1, 2, …: the newest frame of version v is v − 1.
        guard snapshot.time == Double(version - 1), read.current.map(\.frameID) == [version - 2, version - 1] else {
            return tally.fail("version \(version): time \(snapshot.time ?? -1), current \(read.current.map(\.frameID))")
        }
        guard read.blocks.count == 17 else { return tally.fail("version \(version): \(read.blocks.count) blocks") }
        for cluster in snapshot.clusters {
            let members = cluster.members.ranges
            guard Double(members.first!.lowerBound) == cluster.start, Double(members.last!.upperBound) == cluster.end,
                cluster.members.count == cluster.weight, cluster.end <= snapshot.time!
            else { return tally.fail("version \(version): a cluster's labels differ from its members") }
        }
        for section in [read.synopsis, read.detail, read.current] {
            let times = section.map(\.time)
            guard times == times.sorted(), section.allSatisfy({ $0.start <= $0.time && $0.time <= $0.end }) else {
                return tally.fail("version \(version): blocks out of order")
            }
        }
        guard read.blocks.allSatisfy({ $0.end <= snapshot.time! && $0.tokens.count == 16 * 8 }) else {
            return tally.fail("version \(version): a block from after the snapshot")
        }
    }
}
