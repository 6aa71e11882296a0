// The errors of MediaIngest: every way a source, a still image or an output file can fail, each naming the file or
// URL (with any password masked), saying what is wrong and what to do. Raw FFmpeg codes are translated here and
// nowhere else (see `MediaError.classify`).

import CFFmpeg
import VigilCore

/// A failure of ingest, probing, still-image loading or PNG writing.
public enum MediaError: UserFacingError, Sendable, Equatable {
    /// The path does not exist.
    case fileNotFound(path: String)
    /// The file exists but FFmpeg recognises no media format in it.
    case notMediaFile(source: String)
    /// The source has no video stream; `contents` describes what it has ("1 audio stream").
    case noVideoStream(source: String, contents: String)
    /// The video codec has no decoder in this FFmpeg build.
    case unsupportedCodec(source: String, codec: String)
    /// The file ends early or misses its index; `detail` says what was found.
    case truncated(source: String, detail: String)
    /// The host could not be reached (refused, unknown name, no route, no answer).
    case unreachable(source: String, reason: String)
    /// The server refused the credentials (401/403).
    case authenticationFailed(source: String, status: String)
    /// The server answered but has no such stream (404).
    case streamNotFound(source: String)
    /// A network operation did not complete within the timeout.
    case timedOut(source: String, seconds: Double)
    /// A live source dropped and every reconnection attempt failed.
    case reconnectFailed(source: String, attempts: Int, lastReason: String)
    /// Reading or decoding failed for another reason (FFmpeg's own words in `reason`).
    case readFailed(source: String, reason: String)
    /// `VideoClip.frames(_:atIndices:)` asked for a frame the clip does not have.
    case frameIndexOutOfRange(source: String, index: Int, frameCount: Int)
    /// A still image could not be decoded.
    case notAnImage(path: String, reason: String)
    /// An output file could not be written.
    case writeFailed(path: String, reason: String)
    /// The file asks for more than `MediaLimits` allows (a picture too large, opening that takes too long);
    /// `detail` says what.
    case limitExceeded(source: String, detail: String)

    /// A short machine-readable code, used as `code` in `{"type":"error"}` events.
    public var code: String {
        switch self {
        case .fileNotFound: return "file_not_found"
        case .notMediaFile: return "not_media"
        case .noVideoStream: return "no_video_stream"
        case .unsupportedCodec: return "unsupported_codec"
        case .truncated: return "truncated"
        case .unreachable: return "unreachable"
        case .authenticationFailed: return "auth_failed"
        case .streamNotFound: return "stream_not_found"
        case .timedOut: return "timeout"
        case .reconnectFailed: return "reconnect_failed"
        case .readFailed: return "read_failed"
        case .frameIndexOutOfRange: return "frame_out_of_range"
        case .notAnImage: return "not_an_image"
        case .writeFailed: return "write_failed"
        case .limitExceeded: return "limit_exceeded"
        }
    }

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "'\(path)': no such file. Check the path (use '-' to read standard input)."
        case .notMediaFile(let source):
            return "'\(source)' is not a media file FFmpeg can read. "
                + "Give a video file (mp4, mkv, webm, mov, avi, ts) or a stream URL."
        case .noVideoStream(let source, let contents):
            return "'\(source)' has no video stream (\(contents)). Give a source that carries video."
        case .unsupportedCodec(let source, let codec):
            return "'\(source)': video codec '\(codec)' cannot be decoded by this FFmpeg build. "
                + "Convert it first, e.g. ffmpeg -i INPUT -c:v libx264 OUTPUT.mp4."
        case .truncated(let source, let detail):
            return "'\(source)' is truncated or incomplete (\(detail)). Copy or record the file again."
        case .unreachable(let source, let reason):
            return "cannot connect to '\(source)': \(reason). Check the host, the port and that the server is running."
        case .authenticationFailed(let source, let status):
            return "'\(source)' refused access (\(status)). Put valid credentials in the URL "
                + "(scheme://user:password@host/path)."
        case .streamNotFound(let source):
            return "'\(source)': the server has no such stream (404). Check the path after the host."
        case .timedOut(let source, let seconds):
            return "'\(source)' did not answer within \(formatSeconds(seconds)). "
                + "Check the address, or allow more time with --timeout."
        case .reconnectFailed(let source, let attempts, let lastReason):
            return "lost '\(source)' and \(attempts) reconnection attempt\(attempts == 1 ? "" : "s") failed "
                + "(last: \(lastReason)). Check the source; --reconnect-attempts -1 retries forever."
        case .readFailed(let source, let reason):
            return "reading '\(source)' failed: \(reason)."
        case .frameIndexOutOfRange(let source, let index, let frameCount):
            return "'\(source)' has \(frameCount) frames; frame index \(index) does not exist. "
                + "Ask for indices 0 to \(max(0, frameCount - 1))."
        case .notAnImage(let path, let reason):
            return "'\(path)' is not an image FFmpeg can decode (\(reason)). Give a PNG or JPEG file."
        case .writeFailed(let path, let reason):
            return "cannot write '\(path)': \(reason). Check that the folder exists and is writable."
        case .limitExceeded(let source, let detail):
            return "'\(source)' \(detail), beyond what Vigil accepts from one file; it is damaged or not a video "
                + "Vigil can use."
        }
    }
}

/// "5 s", "0.5 s": seconds for messages.
func formatSeconds(_ seconds: Double) -> String {
    if seconds == seconds.rounded() { return "\(Int(seconds)) s" }
    return "\((seconds * 100).rounded() / 100) s"
}

extension MediaError {
    /// Translates an FFmpeg error from opening `source` into the error the user sees.
    ///
    /// `timeout` is the configured network timeout; `deadlineExpired` tells whether Vigil's own interrupt deadline
    /// cut the call short (FFmpeg then reports AVERROR_EXIT or INVALIDDATA rather than a timeout).
    static func classifyOpen(
        _ code: Int32, source: MediaSource, timeout: Double, deadlineExpired: Bool
    ) -> MediaError {
        let name = source.displayName
        if deadlineExpired || code == cff_averror_etimedout() {
            return .timedOut(source: name, seconds: timeout)
        }
        switch code {
        case cff_averror(ENOENT):
            if source.kind == .file { return .fileNotFound(path: name) }
            return .streamNotFound(source: name)
        case cff_averror(ECONNREFUSED):
            return .unreachable(source: name, reason: "connection refused")
        case cff_averror(EHOSTUNREACH), cff_averror(ENETUNREACH):
            return .unreachable(source: name, reason: "no route to host")
        case cff_averror(EIO) where source.isNetwork:
            return .unreachable(source: name, reason: "host name not found or network error")
        case cff_averror_http_unauthorized():
            return .authenticationFailed(source: name, status: "401 Unauthorized")
        case cff_averror_http_forbidden():
            return .authenticationFailed(source: name, status: "403 Forbidden")
        case cff_averror_http_not_found():
            return .streamNotFound(source: name)
        case cff_averror_protocol_not_found():
            return .notMediaFile(source: name)
        case cff_averror_invaliddata(), cff_averror_demuxer_not_found():
            if source.kind == .file, source.startsLikeMP4() {
                return .truncated(source: name, detail: "an MP4 file without its index ('moov' box)")
            }
            if source.isNetwork {
                return .unreachable(source: name, reason: "the server's answer is not a media stream")
            }
            return .notMediaFile(source: name)
        case cff_averror(EACCES), cff_averror(EPERM):
            return .readFailed(source: name, reason: "permission denied; check the file's permissions")
        case cff_averror(EISDIR):
            return .notMediaFile(source: name)
        default:
            return .readFailed(source: name, reason: FFmpeg.errorText(code))
        }
    }
}
