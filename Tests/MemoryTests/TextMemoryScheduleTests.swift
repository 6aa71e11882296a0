// The clip schedule's ends (memory brief §6.3): a final clip shorter than half a second is not captioned on its
// own, but a recording shorter than that still gets its one caption (the real clips include 0.1–0.4 s ones).

import Testing

@testable import Memory

@Suite struct TextMemoryScheduleTests {
    @Test func aShortFinalClipFollowsOnlyWhenWorthIt() {
        let memory = TextMemory(schedule: TextMemorySchedule(clipSeconds: 30, segmentSeconds: 300))
        #expect(memory.dueClip(at: 29.9) == nil)
        #expect(memory.finalClip(duration: 0.34).map { [$0.start, $0.end] } == [0, 0.34], "a 0.34 s recording")
        memory.add(TextMemoryEntry(level: .clip, start: 0, end: 30, text: "a", tokenCount: 1))
        #expect(memory.finalClip(duration: 30.3) == nil, "0.3 s after the last clip")
        #expect(memory.finalClip(duration: 31).map { [$0.start, $0.end] } == [30, 31])
    }
}
