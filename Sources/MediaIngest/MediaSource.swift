// What a source string means: a local file, standard input ("-"), an RTSP camera or an HTTP(S) URL (or another URL
// FFmpeg understands). Decides the FFmpeg URL, whether the source is live (drop-oldest, reconnect) and the name
// shown in messages, with any password in the URL masked.

import Foundation

/// A parsed source string.
public struct MediaSource: Sendable, Equatable {
    /// The broad kind of a source.
    public enum Kind: Sendable, Equatable {
        /// A local file path.
        case file
        /// Standard input (`-`).
        case standardInput
        /// `rtsp://` or `rtsps://`.
        case rtsp
        /// `http://` or `https://`.
        case http
        /// Any other `scheme://` URL FFmpeg may know (rtmp, srt, udp, ...).
        case otherURL
    }

    /// The string as given.
    public let original: String
    /// The kind of source.
    public let kind: Kind

    /// Parses `source`.
    public init(_ source: String) {
        original = source
        let lower = source.lowercased()
        if source == "-" {
            kind = .standardInput
        } else if lower.hasPrefix("rtsp://") || lower.hasPrefix("rtsps://") {
            kind = .rtsp
        } else if lower.hasPrefix("http://") || lower.hasPrefix("https://") {
            kind = .http
        } else if let range = source.range(of: "://"), !source[..<range.lowerBound].isEmpty,
            source[..<range.lowerBound].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" })
        {
            kind = .otherURL
        } else if lower.hasPrefix("file:") {
            kind = .file
        } else {
            kind = .file
        }
    }

    /// True for sources read over a network.
    public var isNetwork: Bool { kind == .rtsp || kind == .http || kind == .otherURL }

    /// Whether the source is live by default: RTSP, HLS playlists and streaming protocols are; files, standard input
    /// and plain HTTP downloads are not.
    public var isLiveByDefault: Bool {
        switch kind {
        case .rtsp: return true
        case .file, .standardInput: return false
        case .http: return original.lowercased().split(separator: "?").first?.hasSuffix(".m3u8") ?? false
        case .otherURL:
            let scheme = original.lowercased().prefix { $0 != ":" }
            return ["rtmp", "rtmps", "srt", "udp", "rtp", "tcp"].contains(String(scheme))
        }
    }

    /// The local path of a file source.
    public var path: String? {
        guard kind == .file else { return nil }
        if original.lowercased().hasPrefix("file:") { return String(original.dropFirst(5)) }
        return original
    }

    /// The URL handed to FFmpeg: `file:` before local paths (so a ':' in a name is not read as a protocol),
    /// `pipe:0` for standard input.
    var ffmpegURL: String {
        switch kind {
        case .file: return "file:" + (path ?? original)
        case .standardInput: return "pipe:0"
        default: return original
        }
    }

    /// The source as shown in messages and events: the password of a `user:password@` URL is replaced by `***`.
    public var displayName: String {
        switch kind {
        case .standardInput: return "standard input"
        case .file: return path ?? original
        default: return Self.maskingPassword(original)
        }
    }

    /// `scheme://user:***@host/...` for `scheme://user:password@host/...`; other strings unchanged.
    static func maskingPassword(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else {
            return url
        }
        return String(url[..<schemeEnd.upperBound]) + authority[..<colon] + ":***" + authority[at...]
            + rest[authorityEnd...]
    }

    /// Whether a file source begins like an ISO-BMFF (MP4/MOV) file: a box header whose type is `ftyp`, `moov`,
    /// `mdat`, `free`, `wide` or `skip`. Used to tell a truncated MP4 from a file that is not media at all.
    func startsLikeMP4() -> Bool {
        guard let path, let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 8), head.count == 8 else { return false }
        let type = String(decoding: head[4..<8], as: UTF8.self)
        return ["ftyp", "moov", "mdat", "free", "wide", "skip"].contains(type)
    }
}
