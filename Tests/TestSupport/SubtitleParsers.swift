// Strict readers of the WebVTT and SRT files the writers produce, stricter than players: they accept only what the
// formats allow and our writers promise (header, timing-line grammar, cues in order and not overlapping, no empty
// cue, no `-->` or raw tag in cue text), and throw on anything else.

import Foundation

/// A cue read back: times in milliseconds and the text lines (entities decoded for WebVTT).
public struct ParsedCue: Equatable, Sendable {
    public var start: Int64
    public var end: Int64
    public var lines: [String]

    public var text: String { lines.joined(separator: "\n") }
}

/// A file broke the format's rules.
public struct SubtitleSyntaxError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

public enum SubtitleParsers {
    /// The cues and NOTE blocks of a WebVTT file.
    public static func webVTT(_ text: String) throws -> (cues: [ParsedCue], notes: [String]) {
        guard !text.contains("\r") else { throw SubtitleSyntaxError("carriage return in a file we write with LF") }
        guard !text.hasPrefix("\u{FEFF}") else { throw SubtitleSyntaxError("byte order mark") }
        let blocks = try splitBlocks(text)
        guard let header = blocks.first, let first = header.first,
            first == "WEBVTT" || first.hasPrefix("WEBVTT ") || first.hasPrefix("WEBVTT\t")
        else { throw SubtitleSyntaxError("no WEBVTT header") }
        guard !header.contains(where: { $0.contains("-->") }) else { throw SubtitleSyntaxError("--> in the header") }
        var cues: [ParsedCue] = []
        var notes: [String] = []
        for block in blocks.dropFirst() {
            if block[0] == "NOTE" || block[0].hasPrefix("NOTE ") || block[0].hasPrefix("NOTE\t") {
                guard !block.contains(where: { $0.contains("-->") }) else {
                    throw SubtitleSyntaxError("--> inside a NOTE: \(block)")
                }
                notes.append(block.joined(separator: "\n"))
                continue
            }
            var lines = block[...]
            if !lines[lines.startIndex].contains("-->") { lines = lines.dropFirst() }  // a cue identifier
            guard let timing = lines.first else { throw SubtitleSyntaxError("a cue without a timing line: \(block)") }
            let (start, end) = try timingLine(timing, separator: ".")
            let payload = Array(lines.dropFirst())
            guard !payload.isEmpty else { throw SubtitleSyntaxError("an empty cue at \(timing)") }
            for line in payload {
                guard !line.contains("-->") else { throw SubtitleSyntaxError("--> in cue text: \(line)") }
                guard !line.contains("<") else { throw SubtitleSyntaxError("a raw tag in cue text: \(line)") }
            }
            cues.append(ParsedCue(start: start, end: end, lines: try payload.map(decodeEntities)))
        }
        try checkTimeline(cues)
        return (cues, notes)
    }

    /// The cues of an SRT file (numbered from 1, each followed by one blank line).
    public static func srt(_ text: String) throws -> [ParsedCue] {
        guard !text.contains("\r") else { throw SubtitleSyntaxError("carriage return in a file we write with LF") }
        if text.isEmpty { return [] }
        guard text.hasSuffix("\n\n"), !text.hasSuffix("\n\n\n") else {
            throw SubtitleSyntaxError("the file must end with exactly one blank line")
        }
        var cues: [ParsedCue] = []
        for (index, block) in try splitBlocks(text, allowingRepeatedBlankLines: false).enumerated() {
            guard block.count >= 3 else { throw SubtitleSyntaxError("a cue needs number, timing and text: \(block)") }
            guard block[0] == String(index + 1) else {
                throw SubtitleSyntaxError("cue number \(block[0]), expected \(index + 1)")
            }
            let (start, end) = try timingLine(block[1], separator: ",")
            for line in block.dropFirst(2) {
                guard !line.contains("-->") else { throw SubtitleSyntaxError("--> in cue text: \(line)") }
                guard !line.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw SubtitleSyntaxError("a blank text line")
                }
                guard !line.contains("<") else { throw SubtitleSyntaxError("a tag-like < in cue text: \(line)") }
            }
            cues.append(ParsedCue(start: start, end: end, lines: Array(block.dropFirst(2))))
        }
        try checkTimeline(cues)
        return cues
    }

    // MARK: - Pieces

    /// Blocks of non-empty lines separated by blank lines; the text must end with a newline.
    private static func splitBlocks(_ text: String, allowingRepeatedBlankLines: Bool = true) throws -> [[String]] {
        guard text.hasSuffix("\n") else { throw SubtitleSyntaxError("the last line has no newline") }
        var blocks: [[String]] = []
        var current: [String] = []
        var blankRun = 0
        for line in text.dropLast().split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty {
                blankRun += 1
                if blankRun > 1 && !allowingRepeatedBlankLines { throw SubtitleSyntaxError("two blank lines in a row") }
                if !current.isEmpty { blocks.append(current) }
                current = []
            } else {
                blankRun = 0
                current.append(String(line))
            }
        }
        if !current.isEmpty { blocks.append(current) }
        return blocks
    }

    /// `HH:MM:SS<sep>mmm --> HH:MM:SS<sep>mmm` (hours two or more digits, no cue settings) as milliseconds.
    private static func timingLine(_ line: String, separator: Character) throws -> (Int64, Int64) {
        let parts = line.components(separatedBy: " --> ")
        guard parts.count == 2 else { throw SubtitleSyntaxError("not a timing line: \(line)") }
        return (
            try timestamp(parts[0], separator: separator, line), try timestamp(parts[1], separator: separator, line)
        )
    }

    private static func timestamp(_ text: String, separator: Character, _ line: String) throws -> Int64 {
        let bytes = Array(text)
        guard bytes.count >= 12, bytes[bytes.count - 4] == separator, bytes[bytes.count - 7] == ":",
            bytes[bytes.count - 10] == ":"
        else { throw SubtitleSyntaxError("bad timestamp '\(text)' in: \(line)") }
        let hours = String(bytes[0..<(bytes.count - 10)])
        let minutes = String(bytes[(bytes.count - 9)..<(bytes.count - 7)])
        let seconds = String(bytes[(bytes.count - 6)..<(bytes.count - 4)])
        let millis = String(bytes[(bytes.count - 3)...])
        for field in [hours, minutes, seconds, millis] where !field.allSatisfy(\.isASCIIDigitCharacter) {
            throw SubtitleSyntaxError("bad timestamp '\(text)' in: \(line)")
        }
        guard hours.count >= 2, let h = Int64(hours), let m = Int64(minutes), let s = Int64(seconds),
            let ms = Int64(millis), m < 60, s < 60
        else { throw SubtitleSyntaxError("bad timestamp '\(text)' in: \(line)") }
        return ((h * 60 + m) * 60 + s) * 1000 + ms
    }

    /// Cues with start < end, starts in order, none overlapping the next.
    private static func checkTimeline(_ cues: [ParsedCue]) throws {
        for (index, cue) in cues.enumerated() {
            guard cue.end > cue.start else {
                throw SubtitleSyntaxError("cue \(index + 1) does not end after it starts")
            }
            if index > 0 {
                let previous = cues[index - 1]
                guard cue.start >= previous.end else {
                    throw SubtitleSyntaxError("cue \(index + 1) starts at \(cue.start) before cue \(index) ends")
                }
            }
        }
    }

    /// WebVTT character references decoded; a bare `&` is an error.
    private static func decodeEntities(_ line: String) throws -> String {
        var out = ""
        var rest = Substring(line)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semicolon = rest[amp...].firstIndex(of: ";") else {
                throw SubtitleSyntaxError("a bare & in: \(line)")
            }
            let name = rest[rest.index(after: amp)..<semicolon]
            switch name {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "nbsp": out += "\u{A0}"
            case "lrm": out += "\u{200E}"
            case "rlm": out += "\u{200F}"
            default: throw SubtitleSyntaxError("unknown character reference &\(name); in: \(line)")
            }
            rest = rest[rest.index(after: semicolon)...]
        }
        return out + rest
    }
}

extension Character {
    fileprivate var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}
