// Whole-clip access by decode index, for `vigil generate --video`: the reference SmolVLM video processor picks
// evenly spaced frame *indices* from a frame count and a rate. Frames are counted by decoding (in decode-output
// order, after edit lists), never from the container index, which can be missing or wrong.

import CFFmpeg
import VigilCore

/// A local video file read from start to end.
public enum VideoClip {
    /// The number of decodable frames, the frame rate and the duration they cover, all from decoding: `duration` is
    /// the last frame's media time plus one typical (median) frame interval, and `fps` is `count / duration`.
    public static func frameCountAndRate(_ path: String) throws(MediaError) -> (
        count: Int, fps: Double, duration: Double
    ) {
        let input = try open(path)
        var clock = MediaClock()
        clock.beginSegment(timeBase: av_q2d(input.timeBase))
        var times: [Double] = []
        while let frame = input.nextFrame() {
            times.append(time(of: frame, clock: &clock, input: input))
        }
        try checkEnd(input, path: path, decoded: times.count)
        let count = times.count
        var intervals: [Double] = []
        for i in 1..<max(1, count) where times[i] > times[i - 1] { intervals.append(times[i] - times[i - 1]) }
        intervals.sort()
        let typical =
            intervals.isEmpty ? (IngestSession.nominalInterval(input.stream) ?? 1) : intervals[intervals.count / 2]
        let duration = (times.last ?? 0) + typical
        return (count, Double(count) / duration, duration)
    }

    /// The frames at decode indices `indices` (0-based, in decode-output order), upright RGB at the displayed size,
    /// in ascending index order (duplicates collapse). Throws `frameIndexOutOfRange` for an index past the end.
    public static func frames(_ path: String, atIndices indices: [Int]) throws(MediaError)
        -> [(index: Int, time: MediaTime, image: RGBImage)]
    {
        let wanted = Array(Set(indices)).sorted()
        if let negative = wanted.first, negative < 0 {
            throw .frameIndexOutOfRange(source: path, index: negative, frameCount: 0)
        }
        let input = try open(path)
        let (rotation, mirrored) = input.displayMatrix
        let orientation = Orientation(rotation: rotation, mirrored: mirrored)
        let converter = FrameConverter()
        var clock = MediaClock()
        clock.beginSegment(timeBase: av_q2d(input.timeBase))
        var result: [(index: Int, time: MediaTime, image: RGBImage)] = []
        var next = 0
        var decoded = 0
        while next < wanted.count, let frame = input.nextFrame() {
            let time = time(of: frame, clock: &clock, input: input)
            if decoded == wanted[next] {
                let image = try converter.convert(frame, orientation: orientation, output: .displayed, source: path)
                result.append((decoded, MediaTime(seconds: time), image))
                next += 1
            }
            decoded += 1
        }
        if next < wanted.count {
            try checkEnd(input, path: path, decoded: decoded)
            throw .frameIndexOutOfRange(source: path, index: wanted[next], frameCount: decoded)
        }
        return result
    }

    private static func open(_ path: String) throws(MediaError) -> MediaInput {
        let input = try MediaInput(source: MediaSource(path), settings: OpenSettings(), interrupt: InterruptState())
        try input.openDecoder()
        return input
    }

    private static func time(of frame: UnsafeMutablePointer<AVFrame>, clock: inout MediaClock, input: MediaInput)
        -> Double
    {
        let pts = frame.pointee.best_effort_timestamp
        let own = frame.pointee.pkt_duration > 0 ? Double(frame.pointee.pkt_duration) * av_q2d(input.timeBase) : nil
        return clock.time(
            pts: pts == cff_nopts_value() ? nil : pts, wallClock: 0,
            fallbackInterval: own ?? IngestSession.nominalInterval(input.stream))
    }

    /// Throws when reading stopped on an error rather than at the end of the file.
    private static func checkEnd(_ input: MediaInput, path: String, decoded: Int) throws(MediaError) {
        switch input.endReason ?? .endOfStream {
        case .endOfStream:
            if decoded == 0 { throw .truncated(source: path, detail: "no frame decodes") }
            if input.isCutShort { throw .truncated(source: path, detail: "data ends after frame \(decoded)") }
        case .readError(let code) where code == cff_averror_invaliddata() || code == cff_averror(EIO):
            throw .truncated(source: path, detail: "data ends after frame \(decoded)")
        case .readError(let code):
            throw .readFailed(source: path, reason: FFmpeg.errorText(code))
        case .aborted, .stalled:
            throw .readFailed(source: path, reason: "reading stopped")
        }
    }
}
