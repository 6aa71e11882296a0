// The caption file formats `vigil caption` writes, and the parser of a `-f/--format` list such as `srt,vtt` or
// `all` (openai-whisper's `--output_format` convention).

import Foundation

/// A caption output format.
public enum CaptionFormat: String, Sendable, Hashable, CaseIterable {
    /// SubRip: numbered cues, `HH:MM:SS,mmm`, clip captions only.
    case srt
    /// WebVTT: `WEBVTT` header, `HH:MM:SS.mmm`, clip captions only.
    case vtt
    /// JSON lines: every entry of every level with its times and timings.
    case jsonl
    /// Plain text: the stream summary, then the clip captions with `[hh:mm:ss]` stamps.
    case txt

    /// The file name extension, without the dot.
    public var fileExtension: String { rawValue }

    /// The formats of a comma-separated list (`srt,vtt`, `all`, `txt, jsonl`), in `allCases` order without
    /// repeats. Names are case-insensitive; spaces around names are ignored.
    public static func parseList(_ text: String) throws(MemoryError) -> [CaptionFormat] {
        var chosen = Set<CaptionFormat>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let name = part.trimmingCharacters(in: .whitespaces).lowercased()
            if name.isEmpty { continue }
            if name == "all" {
                chosen.formUnion(allCases)
            } else if let format = CaptionFormat(rawValue: name) {
                chosen.insert(format)
            } else {
                throw .unknownCaptionFormat(name: String(part.trimmingCharacters(in: .whitespaces)))
            }
        }
        guard !chosen.isEmpty else { throw .emptyCaptionFormatList }
        return allCases.filter(chosen.contains)
    }
}
