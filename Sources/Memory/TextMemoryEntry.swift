// One immutable entry of the coarse-to-fine text memory (docs/captioning.md, ../shared/briefs/memory.md §6.3): a clip
// caption (L1, every 30 s of media), a segment summary (L2, every 5 min) or a whole-stream summary (L3), with its
// [start, end] media times. The same JSON object is one line of the `.jsonl` output and of the caption journal:
//
//   {"level":"clip","start":30.0,"end":60.0,"text":"A man ...","tokens":23,"created_at":"2026-05-30T01:41:25.000Z",
//    "model":"SmolVLM2-256M-Video-Instruct","timings":{"latency_ms":310.0}}
//
// `model` and `timings` are left out when absent; `timings` keys are written sorted. `created_at` is kept to whole
// milliseconds (the JSON form), so an entry read back from JSON is equal to the one written, which is what makes
// outputs rewritten from a journal byte-identical to an uninterrupted run's.

import Foundation
import VigilCore

/// A caption or summary with its media time span; immutable once written.
public struct TextMemoryEntry: Sendable, Hashable, Codable {
    /// How much media an entry covers.
    public enum Level: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
        /// L1: a caption of one clip (30 s by default).
        case clip
        /// L2: a summary of a segment of clips (300 s by default).
        case segment
        /// L3: a summary of the whole stream so far.
        case summary

        /// Coarseness order: clip < segment < summary.
        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rank < rhs.rank }

        private var rank: Int {
            switch self {
            case .clip: return 0
            case .segment: return 1
            case .summary: return 2
            }
        }
    }

    /// The level of the entry.
    public var level: Level
    /// Media time the entry starts at, seconds.
    public var start: Double
    /// Media time the entry ends at, seconds (the entry only describes media up to here).
    public var end: Double
    /// The caption or summary as the model wrote it (writers sanitise their own copy).
    public var text: String
    /// The length of `text` in model tokens.
    public var tokenCount: Int
    /// Wall-clock time the entry was produced, to whole milliseconds (set by the initialiser, which rounds it).
    public private(set) var createdAt: Date
    /// The model that wrote the entry, when known.
    public var model: String?
    /// Named timings in milliseconds (e.g. `latency_ms`, `prefill_ms`); empty when none.
    public var timings: [String: Double]

    /// An entry; `createdAt` is rounded to whole milliseconds. `start` and `end` must be finite.
    public init(
        level: Level, start: Double, end: Double, text: String, tokenCount: Int, createdAt: Date = Date(),
        model: String? = nil, timings: [String: Double] = [:]
    ) {
        precondition(start.isFinite && end.isFinite, "media times of a text memory entry must be finite")
        self.level = level
        self.start = start
        self.end = end
        self.text = text
        self.tokenCount = tokenCount
        self.createdAt = WallClock.date(milliseconds: WallClock.milliseconds(createdAt))
        self.model = model
        self.timings = timings
    }

    /// Reads one JSON line written by `jsonLine` (keys in any order; unknown keys ignored).
    public init(jsonLine: String) throws(DecodingError) {
        do {
            self = try JSONDecoder().decode(TextMemoryEntry.self, from: Data(jsonLine.utf8))
        } catch let error as DecodingError {
            throw error
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\(error)"))
        }
    }

    /// The entry as one JSON object with keys in a fixed order (deterministic bytes).
    public var json: JSONValue { .object(jsonMembers) }

    /// The entry as one line of compact JSON, without the newline.
    public var jsonLine: String { json.serialized() }

    /// The members that depend on the media and settings only (no wall clock, no timings).
    var mediaMembers: [(String, JSONValue)] {
        var members: [(String, JSONValue)] = [
            ("level", .string(level.rawValue)), ("start", .double(start)), ("end", .double(end)),
            ("text", .string(text)), ("tokens", .int(tokenCount)),
        ]
        if let model { members.append(("model", .string(model))) }
        return members
    }

    /// The JSON members in their fixed order, for callers that prepend their own (the journal's `kind`).
    var jsonMembers: [(String, JSONValue)] {
        var members: [(String, JSONValue)] = [
            ("level", .string(level.rawValue)), ("start", .double(start)), ("end", .double(end)),
            ("text", .string(text)), ("tokens", .int(tokenCount)),
            ("created_at", .string(WallClock.format(createdAt))),
        ]
        if let model { members.append(("model", .string(model))) }
        if !timings.isEmpty {
            members.append(("timings", .object(timings.sorted { $0.key < $1.key }.map { ($0.key, .double($0.value)) })))
        }
        return members
    }

    // MARK: - Codable

    private enum CodingKeys: String, CodingKey {
        case level, start, end, text
        case tokenCount = "tokens"
        case createdAt = "created_at"
        case model, timings
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        level = try container.decode(Level.self, forKey: .level)
        start = try container.decode(Double.self, forKey: .start)
        end = try container.decode(Double.self, forKey: .end)
        text = try container.decode(String.self, forKey: .text)
        tokenCount = try container.decodeIfPresent(Int.self, forKey: .tokenCount) ?? 0
        let stamp = try container.decode(String.self, forKey: .createdAt)
        guard let milliseconds = WallClock.parse(stamp) else {
            throw DecodingError.dataCorruptedError(
                forKey: .createdAt, in: container,
                debugDescription: "'\(stamp)' is not a UTC time of the form 2026-05-30T01:41:25.000Z")
        }
        createdAt = WallClock.date(milliseconds: milliseconds)
        model = try container.decodeIfPresent(String.self, forKey: .model)
        timings = try container.decodeIfPresent([String: Double].self, forKey: .timings) ?? [:]
        guard start.isFinite, end.isFinite else {
            throw DecodingError.dataCorruptedError(
                forKey: .start, in: container, debugDescription: "start and end must be finite numbers")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(level, forKey: .level)
        try container.encode(start, forKey: .start)
        try container.encode(end, forKey: .end)
        try container.encode(text, forKey: .text)
        try container.encode(tokenCount, forKey: .tokenCount)
        try container.encode(WallClock.format(createdAt), forKey: .createdAt)
        try container.encodeIfPresent(model, forKey: .model)
        if !timings.isEmpty { try container.encode(timings, forKey: .timings) }
    }
}

/// RFC 3339 UTC times with milliseconds (`2026-05-30T01:41:25.000Z`), the form of `wall_start` in Vigil's events.
/// Hand-written so that formatting and parsing go through whole milliseconds exactly.
enum WallClock {
    /// `date` as whole milliseconds since 1970 (rounded).
    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    /// The date `milliseconds` after 1970.
    static func date(milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    /// `2026-05-30T01:41:25.000Z`.
    static func format(_ date: Date) -> String {
        let ms = milliseconds(date)
        let days = floorDivide(ms, 86_400_000)
        let inDay = ms - days * 86_400_000
        let (year, month, day) = civil(fromDays: days)
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(inDay / 3_600_000, 2) + ":"
            + pad(inDay / 60_000 % 60, 2) + ":" + pad(inDay / 1000 % 60, 2) + "." + pad(inDay % 1000, 3) + "Z"
    }

    /// Milliseconds since 1970 of a `YYYY-MM-DDTHH:MM:SS.mmmZ` string; nil for anything else.
    static func parse(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 24 else { return nil }
        func number(_ from: Int, _ count: Int) -> Int64? {
            var value: Int64 = 0
            for byte in bytes[from..<(from + count)] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            return value
        }
        let separators: [(Int, UInt8)] = [(4, 45), (7, 45), (10, 84), (13, 58), (16, 58), (19, 46), (23, 90)]
        guard separators.allSatisfy({ bytes[$0.0] == $0.1 }),
            let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2), let milli = number(20, 3),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + milli
    }

    // Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar, day 0 = 1970-01-01).
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
