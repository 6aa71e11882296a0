// Timecode formatting never traps: times from damaged files (up to the largest double, NaN, infinities) clamp.

import Testing
import VigilCore

@Suite struct TimecodeTests {
    @Test("subtitle timecodes of ordinary and extreme times")
    func extremes() {
        #expect(Timecode.format(3725.5, separator: ",") == "01:02:05,500")
        #expect(Timecode.format(-3, separator: ".") == "00:00:00.000")
        #expect(Timecode.format(.nan, separator: ".") == "00:00:00.000")
        #expect(Timecode.format(1.7e308, separator: ".") == "2500000000000:00:00.000")
        #expect(Timecode.format(.infinity, separator: ".") == "2500000000000:00:00.000")
    }
}
