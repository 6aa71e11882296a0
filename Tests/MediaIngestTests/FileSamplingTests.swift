// Sampling on generated clips of known timing, one per container: exact sample counts and times, sizes, counters
// and the events of a file read to its end.

import Foundation
import MediaIngest
import Synchronization
import TestSupport
import Testing
import VigilCore

/// Reads every sample of `path`; returns them with the events seen.
func readAll(_ path: String, options: IngestOptions = IngestOptions()) async throws -> (
    frames: [SampledFrame], events: [VigilEvent], counters: IngestCounters
) {
    let log = EventLog()
    let stream = frames(from: path, options: options, onEvent: log.record)
    var collected: [SampledFrame] = []
    for try await frame in stream { collected.append(frame) }
    return (collected, log.events, stream.counters)
}

/// The samples the rule picks from frame times `times` at `fps`: for each k, the first time ≥ k/fps, each once.
func expectedSamples(_ times: [Double], fps: Double) -> [Double] {
    let start = times[0]
    var result: [Double] = []
    var k = 0
    for t in times.map({ $0 - start }) where t >= Double(k) / fps - 1e-9 {
        result.append(t)
        k = Int((t * fps + 1e-9).rounded(.down)) + 1
    }
    return result
}

/// Events collected from the decode thread.
final class EventLog: Sendable {
    private let list = Mutex<[VigilEvent]>([])

    var events: [VigilEvent] { list.withLock { $0 } }

    @Sendable func record(_ event: VigilEvent) { list.withLock { $0.append(event) } }

    /// The states of the status events, in order.
    var states: [SourceState] {
        events.compactMap {
            if case .status(let s) = $0 { return s.state }
            return nil
        }
    }

    /// The codes of the error events, in order.
    var errorCodes: [String] {
        events.compactMap {
            if case .error(_, let code, _, _) = $0 { return code }
            return nil
        }
    }

    /// Waits until `condition` holds, up to `seconds`; returns whether it did.
    func wait(upTo seconds: Double, until condition: (EventLog) -> Bool) async -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if condition(self) { return true }
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        return condition(self)
    }
}

@Suite struct FileSamplingTests {
    static let timedClips: [MediaClip] = [
        .h264At30, .h264At2997, .h264At25Matroska, .variableRate, .vp9WebM, .quickTime, .mpeg4AVI, .transportStream,
    ]
}

extension FileSamplingTests {
    @Test func tenSecondsAtThirtyFPSGiveExactlyTenSamplesOnTheSecond() async throws {
        let (frames, events, counters) = try await readAll(try MediaFixtures.path(.h264At30))
        #expect(frames.map(\.index) == Array(0..<10))
        #expect(frames.map(\.time.seconds) == (0..<10).map(Double.init))
        #expect(frames.allSatisfy { $0.image.width == 320 && $0.image.height == 240 && $0.wallClock == nil })
        #expect(counters.decoded == 300 && counters.sampled == 10 && counters.dropped == 0)
        let states = events.compactMap { event -> SourceState? in
            if case .status(let s) = event { return s.state }
            return nil
        }
        #expect(states == [.live, .ended])
    }

    @Test(arguments: timedClips, [1.0, 2.5, 0.4])
    func samplesAreTheFirstFramesAtOrAfterEachTarget(clip: MediaClip, fps: Double) async throws {
        let times = try #require(clip.frameTimes)
        let expected = expectedSamples(times, fps: fps)
        let (frames, _, counters) = try await readAll(try MediaFixtures.path(clip), options: IngestOptions(fps: fps))
        #expect(counters.decoded == times.count, "\(clip.rawValue)")
        #expect(frames.count == expected.count, "\(clip.rawValue) at \(fps) fps")
        for (frame, want) in zip(frames, expected) {
            #expect(abs(frame.time.seconds - want) < 1e-6, "\(clip.rawValue) sample \(frame.index)")
        }
    }

    @Test(arguments: [MediaClip.h264At2997, .variableRate])
    func everySampleIsWithinOneFrameOfItsTarget(clip: MediaClip) async throws {
        let times = try #require(clip.frameTimes)
        let (frames, _, _) = try await readAll(try MediaFixtures.path(clip))
        #expect(frames.count == 10)
        for frame in frames {
            let target = Double(frame.index)
            let at = times.firstIndex { $0 >= frame.time.seconds - 1e-9 }!
            let previous = at > 0 ? times[at - 1] : -1
            #expect(frame.time.seconds >= target && previous < target, "sample \(frame.index)")
            #expect(frame.time.seconds - target < 0.1)
        }
    }

    @Test(arguments: [MediaClip.h264At30, .variableRate])
    func aStartTimeKeepsTheSamplesOfAWholeReadFromThenOn(clip: MediaClip) async throws {
        let path = try MediaFixtures.path(clip)
        let whole = try await readAll(path, options: IngestOptions(fps: 2)).frames.map(\.time.seconds)
        var options = IngestOptions(fps: 2)
        options.startTime = 4.2
        let (later, _, counters) = try await readAll(path, options: options)
        #expect(later.map(\.time.seconds) == whole.filter { $0 >= 4.2 - 1e-6 })
        #expect(counters.decoded == (clip.frameTimes?.count ?? 0))
        options.timeOffset = 100
        let shifted = try await readAll(path, options: options).frames.map(\.time.seconds)
        #expect(zip(shifted, later).allSatisfy { abs($0 - ($1.time.seconds + 100)) < 1e-9 })
        #expect(shifted.count == later.count)
    }

    @Test func sizesSquashOrFitTheLongEdge() async throws {
        let path = try MediaFixtures.path(.h264At25Matroska)
        let squashed = try await readAll(path, options: IngestOptions(size: .square(64))).frames
        #expect(squashed.allSatisfy { $0.image.width == 64 && $0.image.height == 64 })
        let fitted = try await readAll(path, options: IngestOptions(size: .fitLongEdge(100))).frames
        #expect(fitted.allSatisfy { $0.image.width == 100 && $0.image.height == 75 })
    }

    @Test func breakingOutOfTheLoopStopsTheDecoder() async throws {
        let log = EventLog()
        let stream = frames(
            from: try MediaFixtures.path(.h264At30), options: IngestOptions(fps: 30), onEvent: log.record)
        var seen = 0
        for try await _ in stream {
            seen += 1
            if seen == 3 { break }
        }
        #expect(await log.wait(upTo: livenessBound) { $0.states.last == .ended })
        #expect(stream.counters.decoded < 300)
    }

    @Test func realtimeReplayDropsTheOldestWhenTheConsumerIsSlow() async throws {
        try await TestSerialLock.run {
            let options = IngestOptions(fps: 30, realtime: true, queueCapacity: 2)
            let log = EventLog()
            let stream = frames(from: try MediaFixtures.path(.quadrants), options: options, onEvent: log.record)
            var received: [SampledFrame] = []
            for try await frame in stream {
                received.append(frame)
                try await Task.sleep(nanoseconds: 200_000_000)
            }
            let counters = stream.counters
            #expect(counters.sampled == 90)
            #expect(counters.dropped > 0)
            #expect(received.count + counters.dropped == counters.sampled)
            #expect(received.allSatisfy { $0.wallClock != nil })
            let dropReports = log.events.filter {
                if case .status(let s) = $0 { return s.state == .live && (s.dropped ?? 0) > 0 }
                return false
            }
            #expect(!dropReports.isEmpty, "drops are reported in a live status event")
            #expect(zip(received, received.dropFirst()).allSatisfy { $0.time < $1.time && $0.index < $1.index })
        }
    }
}
