// Media time: seconds on a stream's own clock. The first decoded video frame of a source is 0.0; time only increases,
// also across reconnects (see docs/ingest.md). Raw pts and time bases stay inside MediaIngest.

/// A point on a stream's media clock, in seconds from its first decoded video frame.
public struct MediaTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Seconds from the first decoded video frame.
    public var seconds: Double

    /// Creates a media time of `seconds`.
    public init(seconds: Double) {
        self.seconds = seconds
    }

    /// The start of a stream.
    public static let zero = MediaTime(seconds: 0)

    public static func < (lhs: MediaTime, rhs: MediaTime) -> Bool { lhs.seconds < rhs.seconds }

    /// `HH:MM:SS.mmm`, the form used in logs and captions.
    public var description: String { Timecode.format(seconds, separator: ".") }
}

/// Formats seconds as subtitle timecodes.
public enum Timecode {
    /// Times beyond this (about 285 million years, only ever read from damaged files) are shown as this.
    static let maximumSeconds = 9e15

    /// `HH:MM:SS<sep>mmm`: WebVTT uses ".", SRT uses ",". Negative input (and NaN) clamps to zero, times beyond
    /// `maximumSeconds` to that.
    public static func format(_ seconds: Double, separator: Character) -> String {
        let totalMs = Int((min(max(0, seconds), maximumSeconds) * 1000).rounded())
        let ms = totalMs % 1000
        let s = (totalMs / 1000) % 60
        let m = (totalMs / 60_000) % 60
        let h = totalMs / 3_600_000
        return pad(h, 2) + ":" + pad(m, 2) + ":" + pad(s, 2) + String(separator) + pad(ms, 3)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
