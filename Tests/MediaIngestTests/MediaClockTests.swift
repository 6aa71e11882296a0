// The media clock and the sampling rule, without FFmpeg: timestamps in, media times and samples out.

import Testing

@testable import MediaIngest

@Suite struct MediaClockTests {
    /// Feeds `pts` (time base `1/den`) through a fresh clock and the sampler at `fps`; returns the sampled times.
    private func sample(_ pts: [Int64?], den: Double, fps: Double) -> [Double] {
        var clock = MediaClock()
        clock.beginSegment(timeBase: 1 / den)
        var sampler = FrameSampler(fps: fps)
        var taken: [Double] = []
        for (i, p) in pts.enumerated() {
            let t = clock.time(pts: p, wallClock: Double(i) / 30, fallbackInterval: nil)
            if sampler.take(t) { taken.append(t) }
        }
        return taken
    }
}

extension MediaClockTests {
    @Test func tenSecondsAtThirtyGiveTenSamplesOnTheSecond() {
        let times = sample((0..<300).map { Int64($0) * 512 }, den: 15360, fps: 1)
        #expect(times == (0..<10).map(Double.init))
    }

    @Test func firstFrameIsZeroWhateverTheStartTime() {
        let times = sample((0..<60).map { 126_000 + Int64($0) * 3000 }, den: 90000, fps: 1)
        #expect(times == [0, 1])
    }

    @Test func ntscSamplesAreTheFirstFramesAtOrAfterEachSecond() {
        let times = sample((0..<300).map { Int64($0) * 1001 }, den: 30000, fps: 1)
        #expect(times.count == 10)
        for (k, t) in times.enumerated() {
            #expect(t >= Double(k) && t - Double(k) < 1001.0 / 30000)
        }
    }

    @Test func aGapThatSkipsTargetsYieldsOneSample() {
        // Frames at 0, 0.5, then nothing until 3.2 s, then 3.7 and 4.1.
        let times = sample([0, 500, 3200, 3700, 4100], den: 1000, fps: 1)
        #expect(times == [0, 3.2, 4.1])
    }

    @Test func noFrameIsUsedTwiceAtHighRates() {
        // 10 fps content sampled at 30 fps: every frame once, never repeated.
        let times = sample((0..<20).map { Int64($0) * 100 }, den: 1000, fps: 30)
        #expect(times.count == 20)
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 < $1 })
    }

    @Test func timestampsRoundedJustBelowATargetStillCount() {
        var sampler = FrameSampler(fps: 1)
        let taken = [0, 0.5, 0.9999999995].map { sampler.take($0) }
        #expect(taken == [true, false, true])
        #expect(sampler.nextTargetTime == 2)
    }

    @Test func timeNeverGoesBackwards() {
        var clock = MediaClock()
        clock.beginSegment(timeBase: 1.0 / 1000)
        let a = clock.time(pts: 0, wallClock: 0, fallbackInterval: nil)
        let b = clock.time(pts: 100, wallClock: 0.1, fallbackInterval: nil)
        let c = clock.time(pts: 90, wallClock: 0.2, fallbackInterval: nil)  // small step back: clamped
        let d = clock.time(pts: -50_000, wallClock: 0.3, fallbackInterval: 0.04)  // jump back: re-anchored
        let e = clock.time(pts: -49_960, wallClock: 0.34, fallbackInterval: 0.04)
        #expect(a == 0 && b == 0.1 && c == 0.1)
        #expect(abs(d - 0.14) < 1e-9)
        #expect(abs(e - 0.18) < 1e-9)
    }

    @Test func framesWithoutTimestampsArePlacedByTheirDuration() {
        var clock = MediaClock()
        clock.beginSegment(timeBase: 1.0 / 90000)
        let first = clock.time(pts: nil, wallClock: 0, fallbackInterval: 1.0 / 30)
        let second = clock.time(pts: 3000, wallClock: 0.001, fallbackInterval: 1.0 / 30)
        let third = clock.time(pts: 6000, wallClock: 0.002, fallbackInterval: 1.0 / 30)
        #expect(first == 0)
        #expect(abs(second - 1.0 / 30) < 1e-9)
        #expect(abs(third - 2.0 / 30) < 1e-9)
    }

    @Test func aReconnectContinuesByTheWallClockGap() {
        var clock = MediaClock()
        clock.beginSegment(timeBase: 1.0 / 90000)
        _ = clock.time(pts: 1_000, wallClock: 100, fallbackInterval: nil)
        let before = clock.time(pts: 1_000 + 4 * 90000, wallClock: 104, fallbackInterval: nil)
        // The new connection restarts its timestamps anywhere; 6.5 s of wall-clock time passed.
        clock.beginSegment(timeBase: 1.0 / 90000)
        let after = clock.time(pts: 77, wallClock: 110.5, fallbackInterval: nil)
        let later = clock.time(pts: 77 + 90000, wallClock: 111.5, fallbackInterval: nil)
        #expect(before == 4)
        #expect(after == 10.5)
        #expect(later == 11.5)
    }

    @Test func reconnectDelaysDoubleUpToTheCap() {
        let options = IngestOptions(reconnectMaxDelay: 30)
        #expect((1...7).map { options.reconnectDelay(attempt: $0) } == [1, 2, 4, 8, 16, 30, 30])
        #expect(IngestOptions(reconnectMaxDelay: 5).reconnectDelay(attempt: 4) == 5)
    }
}
