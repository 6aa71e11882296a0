// Text memory entries: exact JSON round trips (the basis of byte-identical rewrites from a journal), the wall-clock
// format, and readable errors for bad lines.

import Foundation
import Testing

@testable import Memory

@Suite struct TextMemoryEntryTests {}

extension TextMemoryEntryTests {
    @Test func jsonLinesRoundTripExactly() throws {
        var random = SplitMix64(seed: 7)
        for index in 0..<2000 {
            let start = Double(random.next() % 10_000_000) / 1000 + random.unit() * 1e-3
            let entry = TextMemoryEntry(
                level: TextMemoryEntry.Level.allCases[index % 3], start: start, end: start + random.unit() * 300,
                text: ["A \"quoted\"\nline\t\\ with é 東京 🚲", "", "plain", "\u{0}\u{1F}control"][index % 4],
                tokenCount: Int(random.next() % 200),
                createdAt: Date(timeIntervalSince1970: 1_700_000_000 + random.unit() * 1e8),
                model: index % 2 == 0 ? "SmolVLM2-256M-Video-Instruct" : nil,
                timings: index % 3 == 0 ? [:] : ["latency_ms": random.unit() * 1000, "prefill_ms": 1e-7])
            let line = entry.jsonLine
            #expect(!line.contains("\n"))
            let back = try TextMemoryEntry(jsonLine: line)
            #expect(back == entry, "\(line)")
            #expect(back.jsonLine == line)
            // Foundation's coder agrees (keys in another order, same values).
            let viaCodable = try JSONDecoder().decode(TextMemoryEntry.self, from: JSONEncoder().encode(entry))
            #expect(viaCodable == entry)
        }
    }

    @Test func createdAtKeepsWholeMilliseconds() {
        let entry = TextMemoryEntry(
            level: .clip, start: 0, end: 30, text: "x", tokenCount: 1,
            createdAt: Date(timeIntervalSince1970: 1_780_000_000.123_456))
        #expect(WallClock.milliseconds(entry.createdAt) == 1_780_000_000_123)
        #expect(entry.jsonLine.contains(#""created_at":"2026-05-28T20:26:40.123Z""#))
    }

    @Test func wallClockFormatsAndParsesRFC3339Milliseconds() {
        let cases: [(Int64, String)] = [
            (0, "1970-01-01T00:00:00.000Z"), (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_780_000_000_123, "2026-05-28T20:26:40.123Z"), (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
        ]
        for (ms, text) in cases {
            #expect(WallClock.format(WallClock.date(milliseconds: ms)) == text)
            #expect(WallClock.parse(text) == ms)
        }
        for bad in ["2026-05-28T20:26:40Z", "2026-05-28 20:26:40.123Z", "2026-13-28T20:26:40.123Z", "x"] {
            #expect(WallClock.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func badLinesThrowDecodingErrors() {
        let bad = [
            #"{"level":"chapter","start":0,"end":1,"text":"x","created_at":"2026-05-28T20:26:40.123Z"}"#,
            #"{"level":"clip","end":1,"text":"x","created_at":"2026-05-28T20:26:40.123Z"}"#,
            #"{"level":"clip","start":0,"end":1,"text":"x","created_at":"yesterday"}"#,
            #"{"level":"clip","start":0,"end":1,"text":"x""#,
            "not json",
        ]
        for line in bad {
            #expect(throws: DecodingError.self, "\(line)") { try TextMemoryEntry(jsonLine: line) }
        }
        let minimal =
            #"{"start":0,"end":1.5,"text":"x","level":"summary","created_at":"2026-05-28T20:26:40.123Z","extra":1}"#
        #expect((try? TextMemoryEntry(jsonLine: minimal))?.tokenCount == 0)
    }
}

/// A small seeded generator (SplitMix64), so the tests are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
