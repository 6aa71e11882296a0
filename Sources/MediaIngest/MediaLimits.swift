// What an untrusted media file may make Vigil do (docs/reliability.md): decode pictures of at most `maxPixels`, let
// FFmpeg make no single allocation above `maxAllocationBytes`, and open and probe a local file within
// `fileOpenSeconds`. Past a limit the file is refused with `MediaError.limitExceeded`, naming what was too much.

/// Limits on the work and memory one media file can cost.
public enum MediaLimits {
    /// Most pixels of a decoded picture: 8192 × 8192 (8K UHD is 7680 × 4320). Checked before the decoder opens and
    /// by the decoder on every frame (`max_pixels`), so a header claiming a larger picture allocates nothing.
    public static let maxPixels = 8192 * 8192
    /// Largest single allocation FFmpeg may make (`av_max_alloc`, process-wide): 1 GiB.
    public static let maxAllocationBytes = 1 << 30
    /// Longest that opening a local file, or probing its streams, may take (FFmpeg's interrupt callback ends it).
    public static let fileOpenSeconds = 30.0
}
